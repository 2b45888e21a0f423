"""Facts the workflow's HTML report captions name: the protocol of a table and the commits of its runs.

Used as rule params by ``workflow/rules/report.smk``; the captions (``workflow/report/*.rst``) print them.
"""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["protocol_words", "run_commits"]


def protocol_words(config: dict, table: str) -> str:
    """One line: the table's evaluation protocols (its ``protocols``, else the config's, else ``clean``), the score
    it reports, and the config overrides on top of the task files."""
    t = config["tables"][table]
    protocols = t.get("protocols") or config.get("protocols") or ["clean"]
    score = t.get("score", "selected")
    if score == "selected":
        score = "each protocol's own (clean: test at the best-validation epoch; original: best test epoch)"
    overrides = config.get("overrides") or {}
    settings = f"task-file settings{' with overrides ' + json.dumps(overrides, sort_keys=True) if overrides else ''}"
    return "; ".join([f"protocol {', '.join(protocols)}", f"score {score}", settings])


def run_commits(paths) -> str:
    """The git commits named in the runs' provenance, sorted and joined by ', ' (a '+dirty' suffix when a
    run came from a modified tree); 'runs not finished yet' while any run file is missing."""
    commits = set()
    for p in paths:
        path = Path(p)
        if not path.exists():
            return "runs not finished yet"
        prov = json.loads(path.read_text()).get("provenance") or {}
        commit = prov.get("git_commit") or "unknown"
        commits.add(commit + ("+dirty" if prov.get("git_dirty") else ""))
    return ", ".join(sorted(commits))
