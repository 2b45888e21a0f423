"""What one `orca` job really used, measured by the operating system: peak RSS, CPU seconds, wall seconds.

Snakemake's ``benchmark:`` TSV measures the process tree of the rule's shell command. Under the warm worker
(orca/runtime/warm.py) that tree holds only the client, the job runs in a child of the worker, so the rules also
pass ``orca --usage-out PATH ...``: the job's own figures (``getrusage`` of the job's process, or of the worker's
forked child read with ``os.wait4`` by its supervisor) are written there as JSON, with its exit status.
``orca.report.resources`` puts both beside what the job asked for.
"""
from __future__ import annotations

import resource
import time
from pathlib import Path

__all__ = ["usage_of", "self_usage", "write_usage", "read_usage", "split_usage_arg"]


def usage_of(ru: resource.struct_rusage, wall_s: float) -> dict:
    """JSON-ready figures of a ``struct_rusage``: max_rss_mb (MiB; Linux reports KiB), cpu_user_s, cpu_system_s,
    cpu_s (their sum) and wall_s (seconds, measured by the caller)."""
    return {"max_rss_mb": round(ru.ru_maxrss / 1024, 1), "cpu_user_s": round(ru.ru_utime, 3),
            "cpu_system_s": round(ru.ru_stime, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
            "wall_s": round(wall_s, 3)}


def self_usage(started: float) -> dict:
    """This process's figures since ``started`` (``time.time()``), with its finished children's (a subprocess
    such as xgboost's or a downloader's) CPU seconds added and their peak RSS taken when it is higher."""
    own = usage_of(resource.getrusage(resource.RUSAGE_SELF), time.time() - started)
    kids = usage_of(resource.getrusage(resource.RUSAGE_CHILDREN), 0.0)
    own["max_rss_mb"] = max(own["max_rss_mb"], kids["max_rss_mb"])
    for key in ("cpu_user_s", "cpu_system_s", "cpu_s"):
        own[key] = round(own[key] + kids[key], 3)
    return own


def write_usage(path: str | Path, usage: dict, argv: list[str], exit_code: int, where: str) -> None:
    """Write ``usage`` (``usage_of``) of the job ``orca argv`` to ``path`` (atomically), with its exit status
    and ``where`` it ran ("in-process" or "warm worker")."""
    from .process import atomic_write_json

    atomic_write_json(Path(path), {**usage, "exit_code": exit_code, "measured": where,
                                   "command": argv[0] if argv else None})


def read_usage(path: str | Path) -> dict | None:
    """The figures a job wrote with :func:`write_usage`; None when it wrote none (or it cannot be read)."""
    import json

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def split_usage_arg(argv: list[str]) -> tuple[str | None, list[str]]:
    """``["--usage-out", PATH, *rest]`` -> (PATH, rest); any other argv -> (None, argv). The option comes first,
    before the command, so that the warm client can take it off before it forwards the job."""
    if argv[:1] == ["--usage-out"]:
        if len(argv) < 2:
            raise SystemExit("orca: error: --usage-out needs a path")
        return argv[1], argv[2:]
    if argv and argv[0].startswith("--usage-out="):
        return argv[0].split("=", 1)[1], argv[1:]
    return None, argv
