"""A partly failed table: its missing cells, listed instead of silently dropped.

``orca report --missing FILE`` reads the JSON of ``orca.plan.failures.missing_cells`` ({"planned": n,
"missing": [cell, ...]}); ``build_report`` then adds "(partial: k of n cells missing)" to the title, a "Missing
cells" section to the Markdown (stage that failed, log, the log's last error line), a note to the LaTeX caption
and one ``row_kind = failed`` row per missing cell (with ``failure``: stage, log and reason) to the long CSV.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

__all__ = ["read_missing", "partial_title", "missing_markdown", "missing_latex_note", "failed_rows"]

CELL_KEYS = ("stage", "identity", "run_file", "failed_stage", "status", "log", "reason")


def read_missing(path: str | Path) -> dict:
    """The missing-cells JSON at ``path``; ValueError naming the file and the field when it is malformed."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"--missing {path}: cannot read it as JSON ({err}); it is written by the workflow's "
                         "onerror handler (orca.plan.failures.write_missing)") from err
    if not isinstance(data, dict) or not isinstance(data.get("planned"), int) or \
            not isinstance(data.get("missing"), list):
        raise ValueError(f"--missing {path}: expected {{'planned': int, 'missing': [cell, ...]}}")
    for i, cell in enumerate(data["missing"]):
        absent = [k for k in CELL_KEYS if k not in cell]
        if absent:
            raise ValueError(f"--missing {path}: missing[{i}] lacks {', '.join(absent)}")
    return data


def partial_title(missing: dict | None) -> str:
    """' (partial: k of n cells missing)', or '' for a complete table."""
    if not missing or not missing["missing"]:
        return ""
    return f" (partial: {len(missing['missing'])} of {missing['planned']} cells missing)"


def _cell_name(cell: dict) -> str:
    ident = cell["identity"]
    keys = ("task", "backbone", "method", "protocol")
    return " / ".join(str(ident[k]) for k in keys if k in ident) + f" / seed {ident.get('seed')}"


def missing_markdown(missing: dict | None) -> str:
    """The Markdown section listing every missing cell; '' for a complete table."""
    if not missing or not missing["missing"]:
        return ""
    from tabulate import tabulate

    rows = [[_cell_name(c), c["failed_stage"], c["status"], f"`{c['log']}`" if c["log"] else "",
             c["reason"].replace("|", "\\|")] for c in missing["missing"]]
    return (f"\n## Missing cells ({len(rows)} of {missing['planned']})\n\n"
            "These cells have no run file: the first job of each cell's chain whose output is missing, its log and "
            "the log's last error line. Rerun only them with the same command (Snakemake runs what is missing); "
            "README: Partial runs.\n\n"
            + tabulate(rows, headers=["cell", "failed job", "status", "log", "reason"], tablefmt="github") + "\n")


def missing_latex_note(missing: dict | None, table: str) -> str:
    """A sentence for the LaTeX caption of a partial table; '' for a complete one."""
    if not missing or not missing["missing"]:
        return ""
    return (f" Partial table: {len(missing['missing'])} of {missing['planned']} cells failed or did not run "
            f"(listed in {table}.md).")


def failed_rows(missing: dict | None, table: str) -> pd.DataFrame:
    """One long-CSV row per missing cell: its identity, ``row_kind = failed`` and ``failure`` (failed job,
    status, log, reason); an empty frame for a complete table."""
    rows = []
    for c in (missing or {}).get("missing", []):
        ident = c["identity"]
        rows.append({"table": table, "task": ident.get("task"), "backbone": ident.get("backbone", ""),
                     "method": ident.get("method"), "protocol": ident.get("protocol", ""),
                     "seeds": str(ident.get("seed")), "row_kind": "failed",
                     "failure": f"{c['failed_stage']} {c['status']}; log: {c['log'] or '-'}; {c['reason']}"})
    return pd.DataFrame(rows)
