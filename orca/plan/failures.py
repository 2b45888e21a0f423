"""The cells of a table that have no run file, and why: which job of the cell's chain failed or never ran.

A table cell (a refine run or a baseline run) depends on a chain of jobs: its task's data (fetch, and prepare
where the task has a ``prepare:`` step), the backbone's source features and the align job (for methods that
train an embedder), then the cell's own job. :func:`missing_cells` walks that chain for every cell whose run
file is absent, names the first job whose output is missing, its log and the log's last error line. The
workflow's ``onerror`` handler passes the list to ``orca report --missing`` so that a partly failed table is
still built, with each missing cell listed (orca.report.missing).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .grid import ALIGN_DIR, BASELINE_PATH, JOB_PATHS, RUN_PATH

__all__ = ["missing_cells", "last_error_line", "write_missing"]

REASON_CHARS = 240  # the reason shown per cell: the log's last error line, cut to this length


def last_error_line(log: Path) -> str:
    """The last line of ``log`` that names an error (``error``, ``Error``, ``Killed``, ``MemoryError``,
    ``Traceback`` ...), else its last non-empty line; '' for an empty or unreadable log."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    marks = ("error", "killed", "exception", "traceback", "out of memory", "failed")
    for line in reversed(lines):
        if any(m in line.lower() for m in marks):
            return line[:REASON_CHARS]
    return lines[-1][:REASON_CHARS] if lines else ""


def _chain(grid, stage: str, ident: dict, cache: str, results: str, logs: str) -> list[tuple[str, str, str]]:
    """The jobs a cell needs, first to last: (stage, the output that shows it finished, its log)."""
    task = ident["task"]
    chain = []
    if grid.task(task).prepare:
        chain.append(("prepare", f"{cache}/prepared/{task}.json", f"{logs}/prepare/{task}.log"))
    chain.append(("fetch", f"{cache}/data-ready/{task}.ok", f"{logs}/fetch/{task}.log"))
    if stage == "refine" and grid.trains_embedder(ident["method"]):
        chain.append(("sources", f"{cache}/sources/{ident['backbone']}.npz",
                      f"{logs}/{JOB_PATHS['sources'].format(**ident)}.log"))
        chain.append(("align", f"{cache}/{ALIGN_DIR.format(**ident)}/embedder.pt",
                      f"{logs}/{JOB_PATHS['align'].format(**ident)}.log"))
    run = RUN_PATH if stage == "refine" else BASELINE_PATH
    chain.append((stage, f"{results}/{run.format(**ident)}", f"{logs}/{JOB_PATHS[stage].format(**ident)}.log"))
    return chain


def missing_cells(grid, table: str, results_dir: str, logs_dir: str) -> dict:
    """{"planned": number of cells, "missing": [cell, ...]} for ``table`` of ``grid`` (orca.plan.grid.Grid).
    A cell: {stage, identity, run_file, failed_stage, status ("failed": its log exists; "not run": none),
    log (path or None), reason (the log's last error line)}."""
    cache = grid.config["cache_dir"]
    cells = [job for job in grid.table_jobs(table) if job["stage"] in ("refine", "baseline")]
    missing = []
    for job in cells:
        chain = _chain(grid, job["stage"], job["identity"], cache, results_dir, logs_dir)
        run_file = chain[-1][1]
        if os.path.exists(run_file):
            continue
        failed_stage, _out, log = next((c for c in chain if not os.path.exists(c[1])), chain[-1])
        has_log = os.path.exists(log)
        missing.append({"stage": job["stage"], "identity": job["identity"], "run_file": run_file,
                        "failed_stage": failed_stage, "status": "failed" if has_log else "not run",
                        "log": log if has_log else None, "reason": last_error_line(Path(log)) if has_log else ""})
    return {"planned": len(cells), "missing": missing}


def write_missing(path: str | Path, cells: dict) -> None:
    """:func:`missing_cells`'s answer as the JSON file ``orca report --missing`` reads."""
    Path(path).write_text(json.dumps(cells, indent=1, sort_keys=True))
