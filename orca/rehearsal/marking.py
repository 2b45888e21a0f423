"""Marks on a rehearsal's table outputs, so that its numbers can never pass for results.

In a rehearsal (the report job's mode, ``rehearsal=True``) every CSV gets a first column ``rehearsal`` (True on
every row) and the titles of the Markdown, LaTeX and figure carry :data:`orca.rehearsal.LABEL`.
Outside a rehearsal nothing changes.
"""
from __future__ import annotations

import json
from pathlib import Path

from . import LABEL


def title(table: str, rehearsal: bool) -> str:
    """The table's title as reports show it: ``<table> [REHEARSAL: ...]`` in a rehearsal."""
    return f"{table} [{LABEL}]" if rehearsal else table


def mark_frame(df, rehearsal: bool):
    """``df`` with a first column ``rehearsal`` = True in a rehearsal (a copy); else ``df`` itself."""
    if not rehearsal:
        return df
    out = df.copy()
    out.insert(0, "rehearsal", True)
    return out


def check_runs(run_files: list[Path], rehearsal: bool) -> None:
    """Refuse to mix: in a rehearsal every run record must be a rehearsal's (``provenance.rehearsal``), outside
    one none may be. ValueError naming the first offending file."""
    want = rehearsal
    for path in run_files:
        with open(path) as fh:
            got = bool((json.load(fh).get("provenance") or {}).get("rehearsal", False))
        if got != want:
            kind = "a rehearsal run (stand-in data)" if got else "not a rehearsal run"
            raise ValueError(f"run file {path} is {kind}, but this report is {'' if want else 'not '}a rehearsal's: "
                             "rehearsal and real numbers are never mixed; give each its own results_dir")
