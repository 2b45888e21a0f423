"""The reproduction study's controls: a frozen body (FPT: only embedder, layer norms and head train) and a
randomly initialised body, as refine methods of the grid."""
import copy

import numpy as np
import pytest
import torch
import yaml

from orca.data import fetch
from orca.stages import refine as refine_mod
from tests.stage_jobs import run_refine
from orca.stages.controls import CONTROLS, body_mode_of, freeze_except_layer_norms
from orca.spec.tasks import load_task
from orca.plan.grid import ConfigError, Grid

OVERRIDES = {"refine": {"epochs": 1, "batch_size": 32}}


def test_freezing_keeps_only_layer_norms_trainable(tiny_text_body):
    body = copy.deepcopy(tiny_text_body)
    n = freeze_except_layer_norms(body)
    trainable = {name for name, p in body.named_parameters() if p.requires_grad}
    assert trainable and n == sum(p.numel() for p in body.parameters() if p.requires_grad)
    assert all("LayerNorm" in name for name in trainable)
    assert any(not p.requires_grad for name, p in body.named_parameters() if "attention" in name)


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    root = tmp_path_factory.mktemp("controls")
    task = load_task("benchmarks/offline/iris.yaml", OVERRIDES)
    fetch(task.data.loader, task.data.args, root / "data")
    return task, root


def test_frozen_body_refine_changes_only_layer_norms_of_the_body(iris, tiny_text_body):
    task, root = iris
    body = copy.deepcopy(tiny_text_body)
    before = {k: v.clone() for k, v in body.state_dict().items()}
    rec = run_refine(task, "roberta-base", "frozen-body", 0, root / "frozen.json", root / "data",
                                body=body, log=lambda *_: None)
    after = body.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "the body's layer norms should train"
    assert all("LayerNorm" in k for k in changed), sorted(changed)
    assert rec["method"] == "frozen-body" and rec["body"] == "frozen"


def test_random_body_has_the_architecture_and_not_the_weights(monkeypatch, iris, tiny_text_body):
    task, root = iris
    asked = []

    def fake_load_body(name, pretrained=True, **_):
        asked.append(pretrained)
        return copy.deepcopy(tiny_text_body)

    monkeypatch.setattr(refine_mod, "load_body", fake_load_body)
    rec = run_refine(task, "roberta-base", "random-body", 0, root / "random.json", root / "data",
                                log=lambda *_: None)
    assert asked == [False] and rec["body"] == "random"
    assert np.isfinite(rec["scores"]["test_at_best_val"])


def test_random_body_loader_builds_random_weights_of_the_same_architecture():
    from orca.model.backbones import load_body

    pretrained = load_body("minilm-l6")
    random = load_body("minilm-l6", pretrained=False)
    a, b = pretrained.state_dict(), random.state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    weight = "encoder.layer.0.attention.self.query.weight"
    assert not torch.allclose(a[weight], b[weight])


def test_methods_map_to_body_modes():
    assert body_mode_of("none") == body_mode_of("otdd-exact") == "pretrained"
    assert body_mode_of("frozen-body") == "frozen" and body_mode_of("random-body") == "random"


def _config(controls):
    config = yaml.safe_load(open("config/config.yaml"))
    config["tables"]["default"]["controls"] = controls
    return config


def test_grid_plans_controls_as_refine_runs_without_an_align_job():
    grid = Grid(_config(sorted(CONTROLS)))
    runs = grid.table_runs("default", "results")
    for control in CONTROLS:
        assert f"results/runs/iris/minilm-l6/{control}/clean/seed0.json" in runs  # the default protocol
        assert not grid.trains_embedder(control)


def test_unknown_control_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown control 'thawed-body'"):
        Grid(_config(["thawed-body"]))
