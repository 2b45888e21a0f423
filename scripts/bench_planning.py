"""How long Snakemake takes to plan the paper grid, as it grows from ~100 to ~2,250 jobs.

    python scripts/bench_planning.py [--repeats 2]

Builds configs from config/paper.yaml with the first k tables / tasks, runs `snakemake -n` on each
(no job runs, no network), and prints jobs planned and wall seconds (best of --repeats).
Target: the full paper grid in at most 15 s on 2 cores.
Note: where SLURM's client tools are installed but no controller answers, the SLURM executor plugin
(loaded at every start) waits ~9 s on `scontrol show config`; that wait is not planning and is
absent where no `scontrol` exists or a cluster answers.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def plan(config: dict, workdir: Path) -> tuple[int, float]:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "-n",
           "--nolock", "--configfile", str(path), "--cores", "1"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(proc.stdout[-2000:] + proc.stderr[-2000:])
    m = re.search(r"^total\s+(\d+)\s*$", proc.stdout + proc.stderr, re.M)
    return int(m.group(1)) if m else 0, seconds


def subset(paper: dict, fraction: float) -> dict:
    """The paper grid with the first ``fraction`` of each table's tasks (at least one)."""
    cfg = {**paper, "benchmarks": [str(REPO / b) for b in paper["benchmarks"]], "tables": {}}
    for name, table in paper["tables"].items():
        keep = max(1, round(len(table["tasks"]) * fraction))
        cfg["tables"][name] = {**table, "tasks": table["tasks"][:keep]}
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    print(f"{'fraction':>8} {'jobs':>6} {'seconds':>8} {'ms/job':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for fraction in (0.05, 0.15, 0.3, 0.6, 1.0):
            runs = [plan(subset(paper, fraction), Path(tmp)) for _ in range(args.repeats)]
            jobs, seconds = runs[0][0], min(s for _, s in runs)
            print(f"{fraction:>8.2f} {jobs:>6d} {seconds:>8.2f} {1000 * seconds / max(jobs, 1):>7.2f}")


if __name__ == "__main__":
    main()
