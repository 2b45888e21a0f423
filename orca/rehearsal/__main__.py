"""``python -m orca.rehearsal --task T [--task U ...] --data-dir D``: write stand-in raw data for tasks.

Used by the workflow's ``standin`` rule (rehearsal runs only). Exit 2 with a message for bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m orca.rehearsal", description=__doc__)
    p.add_argument("--task", action="append", required=True, help="task name or task YAML (repeatable)")
    p.add_argument("--data-dir", required=True, help="the rehearsal's own data folder")
    p.add_argument("--benchmarks", action="append", default=None, help="folders of task files (default: benchmarks)")
    p.add_argument("--overrides", default="{}", help="JSON merged into every task file (as the workflow's)")
    p.add_argument("--train", type=int, default=24, help="training samples per stand-in")
    p.add_argument("--test", type=int, default=8, help="test samples per stand-in")
    p.add_argument("--done", default=None, help="record of the written files (for the workflow)")
    args = p.parse_args(argv)
    from ..tasks import resolve_task
    from .standins import Size, write_standins

    dirs = args.benchmarks or os.environ.get("ORCA_BENCHMARKS", "benchmarks").split(os.pathsep)
    try:
        for name in args.task:
            task = resolve_task(name, dirs, json.loads(args.overrides))
            written = write_standins(task, Path(args.data_dir), Size(args.train, args.test),
                                     Path(args.done) if args.done and len(args.task) == 1 else None)
            print(f"{task.name}: stand-in data (REHEARSAL, not the real data) -> "
                  + ", ".join(str(w) for w in written))
    except (ValueError, OSError) as err:
        print(f"orca rehearsal: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
