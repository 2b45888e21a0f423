"""Fabricated run JSON files at the paths the workflow expects, for report tests without training."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from orca.plan.grid import Grid

REPO = Path(__file__).resolve().parents[2]

# method -> mean loss; seed noise is added (same seed -> same shift, as a shared split would give)
MEANS = {"none": 0.20, "otdd-exact": 0.12, "l2": 0.21, "xgboost": 0.15}


def tiny_config(tmp: Path, table: str = "tiny", seeds=(0, 1, 2)) -> Path:
    """A config with one table over two offline tasks; results/reports under ``tmp``."""
    cfg = {
        "benchmarks": [str(REPO / "benchmarks")], "cache_dir": str(tmp / "cache"),
        "results_dir": "results", "reports_dir": "reports", "warm_worker": False,
        "targets": [table],
        "tables": {table: {"title": "Fabricated table", "tasks": ["iris", "wine"], "backbones": ["minilm-l6"],
                           "aligners": ["none", "otdd-exact", "l2"], "baselines": ["xgboost"],
                           "seeds": list(seeds)}},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def write_runs(tmp: Path, config_path: Path, table: str = "tiny", commit: str = "0123abcd") -> list[Path]:
    """One run JSON per path of ``Grid.table_runs`` (relative to ``tmp``); returns the paths."""
    config = yaml.safe_load(config_path.read_text())
    config.setdefault("overrides", {})
    config.setdefault("data_dir", None)
    grid = Grid(config)
    paths = []
    for rel in grid.table_runs(table, config["results_dir"]):
        parts = Path(rel).parts
        if parts[1] == "runs":  # runs/<task>/<backbone>/<method>/<protocol>/seed<k>.json (RUN_PATH)
            task, backbone, method, protocol = parts[2:6]
        else:  # baselines/<task>/<method>/seed<k>.json (BASELINE_PATH): fitted on the clean split
            task, backbone, method, protocol = parts[2], "-", parts[3], "clean"
        seed = int(parts[-1][4:-5])
        shared = np.random.default_rng(seed).normal(0, 0.01)  # what the seed's split does to every method
        own = np.random.default_rng([seed, list(MEANS).index(method)]).normal(0, 0.003)
        value = MEANS[method] + (0.02 if task == "wine" else 0.0) + shared + own
        run = {"task": task, "task_title": f"{task} title", "backbone": backbone, "method": method, "seed": seed,
               "protocol": protocol, "metric": "one_minus_auroc", "metric_display": "1 - AUROC", "higher_is_better": False,
               "scores": {"test_at_best_val": value, "test_last_epoch": value, "best_val": value, "best_epoch": 1},
               "wall_time_s": 1.0, "settings_hash": "fab0",
               "provenance": {"git_commit": commit, "git_dirty": False, "run_file": rel}}
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run))
        paths.append(path)
    return paths
