"""Time the default offline table from an empty results folder, then check the caching targets.

    python scripts/bench_default_table.py [--cores 2] [--keep DIR] [--no-warm-worker] [--set KEY=VALUE ...]
                                          [--configfile FILE ...]

``--configfile`` lays a config file over config/config.yaml (repeatable; merged as Snakemake's --configfile merges
them) and times its first target instead, e.g. the follow-ups table: ``--configfile config/followups-offline.yaml``,
or with RECRAFT beside ORCA: ``--configfile config/followups-offline.yaml --configfile
config/followups-offline-recraft.yaml``.

Prints: wall time of the full table (all seeds), the jobs a rerun plans with nothing changed (target 0),
the jobs planned after changing one refine-only setting (target: refine jobs + the table only), and where
the time went per rule (from Snakemake's per-job benchmark files). Runs in a scratch folder so your own
results/ and cache are untouched; the default table's settings are those of config/config.yaml.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from snakemake.utils import update_config

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, config: Path, cores: int, *extra: str) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(config), "--cores", str(cores), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def job_counts(text: str) -> dict[str, int]:
    if "Job stats:" not in text:
        return {}
    return {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)\s*$", text.split("Job stats:")[-1], flags=re.M)
            if r != "total"}


def set_key(cfg: dict, item: str) -> None:
    """Apply ``a.b.c=VALUE`` (VALUE parsed as YAML) to ``cfg``; exits naming the problem if the path is not there."""
    key, sep, value = item.partition("=")
    parts = key.split(".")
    node = cfg
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            sys.exit(f"--set {item}: config/config.yaml has no mapping {part!r} on the path {key!r}")
        node = node[part]
    if not sep or parts[-1] not in node:
        sys.exit(f"--set {item}: expected KEY=VALUE with KEY a key of config/config.yaml (e.g. tables.default.seeds)")
    node[parts[-1]] = yaml.safe_load(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", default=None, help="run in this folder instead of a temporary one")
    parser.add_argument("--no-warm-worker", action="store_true",
                        help="run every job in its own process (config warm_worker: false), e.g. to compare")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one config key (dotted path, YAML value) to time a variant of the table, "
                             "e.g. --set tables.default.controls=[]")
    parser.add_argument("--configfile", action="append", default=[],
                        help="a config laid over config/config.yaml (repeatable, later ones over earlier ones); the "
                             "first target is timed (e.g. config/followups-offline.yaml)")
    args = parser.parse_args()
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for path in args.configfile:  # as Snakemake merges them: nested mappings key by key, anything else replaced
        update_config(cfg, yaml.safe_load(Path(path).read_text()))
    table_name = cfg["targets"][0]
    for item in args.set:
        set_key(cfg, item)
    if args.no_warm_worker:
        cfg["warm_worker"] = False
    work = Path(args.keep or tempfile.mkdtemp(prefix="orca-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg.update(benchmarks=[str(REPO / b) for b in cfg["benchmarks"]], cache_dir=str(work / "cache"))
    config = work / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))

    start = time.time()
    snakemake(work, config, args.cores)
    wall = time.time() - start
    rerun = job_counts(snakemake(work, config, args.cores, "-n"))
    # refine.clip: a refine-only setting (align inherits the task's optimizer, lr, weight decay, momentum, betas
    # and batch size, as the released code does, so changing one of those reruns align too)
    changed = dict(cfg, overrides={**cfg.get("overrides", {}), "refine": {"clip": 0.5}})
    changed_path = work / "config-changed.yaml"
    changed_path.write_text(yaml.safe_dump(changed))
    after_change = job_counts(snakemake(work, changed_path, args.cores, "-n"))

    rows = []
    for tsv in (work / "results" / "benchmarks").rglob("*.tsv"):
        t = pd.read_csv(tsv, sep="\t")
        rows.append({"rule": tsv.relative_to(work / "results" / "benchmarks").parts[0], "s": float(t["s"].iloc[0]),
                     "max_rss_mb": float(t["max_rss"].iloc[0]) if "max_rss" in t else float("nan")})
    per_rule = pd.DataFrame(rows).groupby("rule").agg(jobs=("s", "size"), total_s=("s", "sum"), mean_s=("s", "mean"),
                                                      max_s=("s", "max"), peak_rss_mb=("max_rss_mb", "max"))
    if cfg.get("warm_worker", True):  # Snakemake then measures the client, not the job forked by the worker
        per_rule = per_rule.drop(columns="peak_rss_mb")
    mode = "warm worker" if cfg.get("warm_worker", True) else "one process per job"
    variant = f" with {', '.join(args.set)}" if args.set else ""
    print(f"{table_name} table{variant}, {args.cores} cores, {mode}, from empty results: {wall:.0f} s wall "
          f"({wall / 60:.1f} min; target <= {15 if args.configfile else 12} min)")
    print(f"rerun with nothing changed plans: {rerun or 'no jobs'} (target: no jobs)")
    print(f"after changing refine.clip plans: {after_change} (target: refine + table only)")
    print("\nper rule (from Snakemake benchmark files):")
    print(per_rule.round(1).to_string())
    print(f"\ntable: {work / 'results' / (table_name + '.csv')}")
    table = pd.read_csv(work / "results" / f"{table_name}.csv")
    cols = ["task", "method", "mean", "ci95_t_low", "ci95_t_high", "n_seeds", "paired_verdict", "tied_with_best"]
    print(table[table.row_kind == "run"][cols].to_string(index=False))


if __name__ == "__main__":
    main()
