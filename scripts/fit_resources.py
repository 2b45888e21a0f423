"""Write each sized task file's ``resources`` (mem_mb, runtime_min) from its sizing record (orca/sizing/fit.py).

  python scripts/fit_resources.py [--configfile config/paper.yaml] [--sizing-dir results/sizing] [--check]

Prints one line per task: measured peak, modelled runtime on the reference GPU, old -> new request. ``--check``
changes nothing and exits 1 when a task file asks for less than its measurement says (what the test checks).
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from orca.plan.config import load_config, planning_config
    from orca.plan.grid import Grid
    from orca.sizing.fit import CUDA_HOST_MB, MEM_MARGIN, REFERENCE, TIME_MARGIN, fitted_resources, rewrite_resources

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configfile", action="append", default=None)
    p.add_argument("--sizing-dir", default="results/sizing")
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    grid = Grid(planning_config(load_config(args.configfile or ["config/paper.yaml"])))
    fitted = fitted_resources(grid, None, args.sizing_dir)
    print(f"margins: memory x {MEM_MARGIN} (+ {CUDA_HOST_MB} MB for a GPU job), time x {TIME_MARGIN} on {REFERENCE}; "
          f"{len(fitted)} sized tasks")
    short = []
    for name, f in sorted(fitted.items()):
        task = grid.task(name)
        old = task.resources
        line = (f"{name:22s} peak {f['peak_mb'] / 1024:5.1f} GB + data {f['data_mb'] / 1024:5.1f} GB, modelled "
                f"{f['modelled_min']:7.1f} min: "
                f"mem_mb {old.mem_mb} -> {f['mem_mb']}, runtime_min {old.runtime_min} -> {f['runtime_min']}")
        if args.check:
            if old.mem_mb < f["mem_mb"] or old.runtime_min < f["runtime_min"]:
                short.append(name)
                line += "  ASKS TOO LITTLE"
        else:
            rewrite_resources(task.path, f["mem_mb"], f["runtime_min"])
        print(line)
    if short:
        print(f"{len(short)} task files ask for less than measured: run python scripts/fit_resources.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
