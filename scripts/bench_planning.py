"""How long Snakemake takes to plan: the paper grid (~2,200 jobs) and the default table.

    python scripts/bench_planning.py [--repeats 3]

Runs these command lines from the repository root (planning only: no job runs, no network)::

    snakemake -n --forceall -q --configfile config/paper.yaml     # the paper grid
    snakemake -n --forceall -q                                    # the default config

each --repeats times, and prints the jobs planned (counted by one more run without -q, not timed) and the
median wall seconds. Target on 2 cores: the paper grid in at most 5 s, the default table no slower than 5.8 s.
Note: where SLURM's client tools are installed but no controller answers, the SLURM executor plugin
(loaded at every start) waits ~9 s on `scontrol show config`; that wait is not planning and is
absent where no `scontrol` exists or a cluster answers.
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: name -> the arguments after `snakemake` (run in the repository root)
PLANS = {
    "paper": ["-n", "--forceall", "-q", "--configfile", "config/paper.yaml"],
    "default": ["-n", "--forceall", "-q"],
}


def run(args: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    cmd = [sys.executable, "-m", "snakemake", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n" + proc.stdout[-2000:] + proc.stderr[-2000:])
    return proc, seconds


def jobs_planned(args: list[str]) -> int:
    """The job count of the plan (Snakemake's job-stats table, which -q leaves out)."""
    proc, _ = run([a for a in args if a != "-q"])
    m = re.search(r"^total\s+(\d+)\s*$", proc.stdout + proc.stderr, re.M)
    return int(m.group(1)) if m else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'plan':>8} {'jobs':>6} {'median s':>9} {'runs (s)':>24}  command")
    for name, plan_args in PLANS.items():
        jobs = jobs_planned(plan_args)
        runs = [run(plan_args)[1] for _ in range(args.repeats)]
        shown = " ".join(f"{s:.2f}" for s in runs)
        print(f"{name:>8} {jobs:>6d} {statistics.median(runs):>9.2f} {shown:>24}  snakemake {' '.join(plan_args)}")


if __name__ == "__main__":
    main()
