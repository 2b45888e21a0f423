"""``orca size``, ``orca size-unit`` and ``orca cost``: the sizing commands (wired into orca/cli.py).

  orca size [--configfile F ...] [--tables T ...] [--only TASK--BACKBONE] [--list] [--force] [--device D]
  orca cost [--configfile F ...] [--sizing-dir DIR] [--out-dir DIR] [--device-class NAME ...]

Exit status: 0 on success, 1 when a unit failed, 2 for bad input (the message names the cause and the fix).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SIZING_DIR = "results/sizing"


def _config_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configfile", action="append", default=None, metavar="FILE",
                   help="config file(s) merged over config/config.yaml as Snakemake does (e.g. config/paper.yaml)")
    p.add_argument("--tables", nargs="+", default=None, metavar="TABLE", help="only these tables (default: the "
                   "config's targets)")
    p.add_argument("--sizing-dir", default=SIZING_DIR, metavar="DIR",
                   help=f"where sizing records are (default: {SIZING_DIR}; measurements, never results)")


def add_sizing_parsers(sub) -> None:
    """The ``size``, ``size-unit`` and ``cost`` sub-commands."""
    p = sub.add_parser("size", help="measure every distinct job shape of a config at its real size (full-size "
                       "random bodies, real per-sample shapes and batch sizes; docs/sizing.md)")
    _config_opts(p)
    p.add_argument("--only", nargs="+", default=None, metavar="TASK--BACKBONE", help="only these units")
    p.add_argument("--list", action="store_true", help="list the units and exit")
    p.add_argument("--force", action="store_true", help="measure again even where a record is up to date")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per unit (default: torch's)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per window (config sizing.steps)")
    p.add_argument("--micro-batches", type=int, nargs="+", default=None,
                   help="micro-batches measured where the real batch is larger (config sizing.micro_batches)")
    p.add_argument("--precisions", nargs="+", default=None, choices=["fp32", "tf32", "bf16"],
                   help="refine precisions to measure (config sizing.precisions)")

    p = sub.add_parser("size-unit", help="(used by orca size) measure one unit from its settings document")
    p.add_argument("--job", required=True, help="the unit's settings document: JSON or @FILE")
    p.add_argument("--out", required=True, help="the record to write")
    p.add_argument("--data-dir", required=True, help="stand-in data folder of the sizing")
    p.add_argument("--cache-dir", required=True, help="where full-size bodies and checkpoints go")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)

    p = sub.add_parser("cost", help="what each table of a config costs (GPU-hours, CPU-hours, memory, disk), "
                       "from the sizing records")
    _config_opts(p)
    p.add_argument("--out-dir", default="reports/cost", metavar="DIR", help="where the cost CSV, Markdown and "
                   "plot go (default: reports/cost)")
    p.add_argument("--device-class", nargs="+", default=None, metavar="NAME",
                   help="GPU classes to estimate (default: A100-40GB H100-80GB; also H200-141GB)")


def _grid(args):
    from ..plan.config import load_config, planning_config
    from ..plan.grid import Grid

    return Grid(planning_config(load_config(args.configfile)))


def _sizing_settings(grid, args) -> dict:
    """config ``sizing`` settings, then the command line's."""
    settings = dict(grid.config.get("sizing") or {})
    for key, value in (("steps", args.steps), ("micro_batches", args.micro_batches),
                       ("precisions", args.precisions)):
        if value is not None:
            settings[key] = value
    return settings


def run_size(args) -> int:
    from .runner import run_units
    from .shapes import sizing_units

    try:
        grid = _grid(args)
        units = sizing_units(grid, args.tables, _sizing_settings(grid, args))
    except (ValueError, OSError) as err:  # ConfigError, ConfigFileError, SizingError, TaskError
        print(f"orca size: error: {err}", file=sys.stderr)
        return 2
    if args.only:
        names = {u.name for u in units}
        unknown = [n for n in args.only if n not in names]
        if unknown:
            print(f"orca size: error: unknown unit(s) {', '.join(unknown)}; `orca size --list` names them",
                  file=sys.stderr)
            return 2
        units = [u for u in units if u.name in args.only]
    if args.list:
        for u in units:
            print(f"{u.name:40s} {', '.join(f'{t}/{k}' for t, k in u.members)}")
        print(f"{len(units)} units")
        return 0
    cache = Path(grid.config["cache_dir"])
    failed = run_units(units, args.sizing_dir, cache / "sizing" / "data", cache, args.device, args.force,
                       args.threads)
    if failed:
        print(f"orca size: {len(failed)} unit(s) failed: {', '.join(failed)} (their output is above)", file=sys.stderr)
        return 1
    return 0


def run_size_unit(args) -> int:
    from ..runtime.process import atomic_write_json, set_threads
    from ..spec.jobs import JobSettings
    from .probe import run_unit

    job = JobSettings.loads(args.job, "size")
    set_threads(args.threads)
    record = run_unit(job, Path(args.data_dir), Path(args.cache_dir), args.device)
    atomic_write_json(args.out, record)
    return 0


def run_cost(args) -> int:
    from .cost import write_cost

    try:
        grid = _grid(args)
        written = write_cost(grid, args.tables, args.sizing_dir, args.out_dir, args.device_class)
    except (ValueError, OSError) as err:
        print(f"orca cost: error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0
