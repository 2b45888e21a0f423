"""orca/plan/grid.py: one definition of what each stage depends on (orca.spec.tasks.STAGE_DEPENDS) gives
both the rule params Snakemake compares and the overrides each job receives, so they never disagree."""
import copy
import json
from pathlib import Path

import pytest
import yaml

from orca.spec.tasks import load_task, settings_hash, stage_paths, stage_settings
from orca.plan.grid import BASELINE_PATH, RUN_PATH, Grid

REPO = Path(__file__).resolve().parents[1]
STAGES = ("data", "align", "refine", "baseline")
ALL = set(STAGES)
ECG_PREPARE = yaml.safe_load((REPO / "benchmarks/nb360/ecg.yaml").read_text())["prepare"]

# (task, config overrides, the stages whose settings they change): one case per overridable path
CASES = [
    ("iris", {"data": {"loader": "npz"}}, ALL),
    ("iris", {"data": {"args": {"test_size": 0.2}}}, ALL),
    ("iris", {"data": {"val_fraction": 0.2}}, ALL),
    ("iris", {"input": {"shape": [1, 4]}}, ALL),
    ("iris", {"prepare": ECG_PREPARE}, ALL),
    ("iris", {"data": {"normalize": {"inputs": "fit"}}}, ALL),
    ("advection1d", {"output": {"ignore": {"nan": True}}, "loss": {"name": "mse"}, "metric": "mae8"}, ALL),
    ("iris", {"embedder": {"target_seq_len": 16}}, {"align", "refine"}),
    ("iris", {"align": {"epochs": 3}}, {"align"}),
    ("iris", {"refine": {"epochs": 3}}, {"refine"}),
    ("iris", {"loss": {"label_smoothing": 0.1}}, {"refine"}),
    ("iris", {"output": {"num_outputs": 3}}, {"refine", "baseline"}),
    ("iris", {"metric": "zero_one_error_pct"}, {"refine", "baseline"}),
    ("iris", {"eval": {"group_by": "clip_ids"}}, {"refine", "baseline"}),
    ("iris", {"resources": {"mem_mb": 5}, "title": "other"}, set()),
]


@pytest.fixture(scope="module")
def plain():
    return grid({})


def grid(overrides: dict) -> Grid:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config.update(benchmarks=[str(REPO / "benchmarks")], overrides=copy.deepcopy(overrides))
    return Grid(config)


@pytest.mark.parametrize("task,overrides,changed", CASES, ids=[json.dumps(c[1])[:60] for c in CASES])
def test_every_override_a_stage_depends_on_reaches_its_job(plain, task, overrides, changed):
    g = grid(overrides)
    for stage in STAGES:
        rule_settings = json.loads(g.settings_json(task, stage))  # what Snakemake compares (the rule's params)
        job_task = load_task(g.task_files[task], json.loads(g.overrides_json(stage)))  # what `orca <stage>` loads
        job_settings = stage_settings(job_task, stage)
        assert settings_hash(job_settings) == settings_hash(rule_settings), (stage, overrides)
        assert (rule_settings != json.loads(plain.settings_json(task, stage))) == (stage in changed), stage
        assert (json.loads(g.overrides_json(stage)) != {}) == (stage in changed), stage


def test_refine_overrides_do_not_reach_align_jobs():
    g = grid({"refine": {"epochs": 2}, "align": {"epochs": 1}, "output": {"kind": "regression"}})
    assert json.loads(g.overrides_json("align")) == {"align": {"epochs": 1}}
    assert json.loads(g.overrides_json("data")) == {}
    assert json.loads(g.overrides_json("refine")) == {"refine": {"epochs": 2}, "output": {"kind": "regression"}}


def test_data_paths_are_part_of_every_stage():
    data = stage_paths("data")
    assert {"data.args", "input", "prepare", "output.ignore"} <= set(data)
    for stage in ("align", "refine", "baseline"):
        assert set(data) <= set(stage_paths(stage))
    with pytest.raises(ValueError, match="unknown stage 'fit'"):
        stage_paths("fit")


def test_table_runs_use_the_rules_output_patterns(plain):
    runs = plain.table_runs("default", "R")
    assert "R/" + RUN_PATH.format(task="iris", backbone="minilm-l6", aligner="none", protocol="clean", seed=0) in runs
    assert "R/" + BASELINE_PATH.format(task="iris", method="xgboost", seed=0) in runs
    rules = (REPO / "workflow/rules/refine.smk").read_text()
    assert "os.path.join(RESULTS, RUN_PATH)" in rules and "os.path.join(RESULTS, BASELINE_PATH)" in rules
