"""The embedder-epochs axis through the real workflow: one align job per aligner, its snapshot refined as
<aligner>-e<k>, a table row for it, and nothing to redo on a second run."""
import json

import pandas as pd
import yaml

from .test_e2e import REPO, planned_jobs, snakemake


def test_one_align_run_serves_every_epoch_count(tmp_path):
    cfg = {"benchmarks": [str(REPO / "benchmarks")], "cache_dir": str(tmp_path / "cache"), "results_dir": "results",
           "reports_dir": "reports", "threads_per_job": 1, "source_max_samples": 300,
           "overrides": {"align": {"epochs": 3, "maxsamples": 16}, "refine": {"epochs": 1}},
           "targets": ["ep"],
           "tables": {"ep": {"tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["none", "l2"],
                             "align_epochs": [1, 2], "seeds": [0]}}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    planned = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert planned["align"] == 1 and planned["refine"] == 4  # none, l2, l2-e1, l2-e2
    snakemake(tmp_path, config)
    align_dir = tmp_path / "cache/align/iris/minilm-l6/l2/clean/seed0"
    assert sorted(p.name for p in align_dir.glob("embedder*.pt")) == ["embedder-e1.pt", "embedder-e2.pt",
                                                                      "embedder.pt"]
    for k in (1, 2):
        run = json.loads((tmp_path / f"results/runs/iris/minilm-l6/l2-e{k}/clean/seed0.json").read_text())
        assert run["embedder"] == str(align_dir / f"embedder-e{k}.pt")
    table = pd.read_csv(tmp_path / "results/ep.csv")
    assert {"l2-e1", "l2-e2", "l2", "none"} <= set(table.method)
    assert planned_jobs(snakemake(tmp_path, config, "-n")) == {}
