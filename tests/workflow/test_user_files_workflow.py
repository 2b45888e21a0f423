"""A method and a backbone of a user's own, each one file in a folder the config names, through the real
workflow: planned, run, tabled, and the method file's content in its jobs' cache key."""
import json

import pandas as pd
import yaml

from ..methods.test_registry import MEAN_GAP
from ..test_backbone_files import tiny_bert_dir, write_backbone  # noqa: F401  (the fixture)
from .test_e2e import REPO, planned_jobs, snakemake


def test_a_method_and_a_body_from_folders_run_through_the_workflow(tmp_path, tiny_bert_dir):  # noqa: F811
    methods = tmp_path / "my-methods"
    methods.mkdir()
    (methods / "mean_gap.py").write_text(MEAN_GAP)
    bodies = write_backbone(tmp_path / "my-bodies", tiny_bert_dir)
    cfg = {"benchmarks": [str(REPO / "benchmarks")], "cache_dir": str(tmp_path / "cache"), "results_dir": "results",
           "reports_dir": "reports", "threads_per_job": 1, "source_max_samples": 200,
           "method_dirs": [str(methods)], "backbone_dirs": [str(bodies)],
           "method_settings": {"mean-gap": {"scale": 2.0}},
           "overrides": {"align": {"epochs": 2, "maxsamples": 16}, "refine": {"epochs": 1}},
           "targets": ["mine"],
           "tables": {"mine": {"tasks": ["iris"], "backbones": ["tiny-bert"], "aligners": ["none", "mean-gap"],
                               "seeds": [0]}}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, config)
    record = json.loads((tmp_path / "cache/align/iris/tiny-bert/mean-gap/clean/seed0/align.json").read_text())
    assert record["settings"]["method"]["settings"] == {"scale": 2.0}  # the config's value, in the job's settings
    assert record["settings"]["method"]["file"] == str(methods / "mean_gap.py")
    assert record["settings"]["backbone_spec"]["source"] == str(tiny_bert_dir)
    assert len(record["distance_per_epoch"]) == 2 and record["distance_per_epoch"][0] > 0
    run = json.loads((tmp_path / "results/runs/iris/tiny-bert/mean-gap/clean/seed0.json").read_text())
    assert run["backbone"] == "tiny-bert" and run["method"] == "mean-gap"
    table = pd.read_csv(tmp_path / "results/mine.csv")
    assert {"none", "mean-gap"} <= set(table.method)
    assert planned_jobs(snakemake(tmp_path, config, "-n")) == {}
    (methods / "mean_gap.py").write_text(MEAN_GAP.replace("scale * ", "0.5 * scale * "))
    planned = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert planned.get("align") == 1 and planned.get("refine") == 1  # the changed method file's jobs only
