"""The controls as refine methods of the grid: a frozen body (FPT: only embedder, layer norms and head train), LoRA
adapters on a frozen body, a randomly initialised body, one random attention layer instead of the body, and no body."""
import copy

import numpy as np
import pytest
import torch
import yaml

from orca.data import fetch
from orca.stages import refine as refine_mod
from tests.stage_jobs import run_refine
from orca.methods import methods_of_kind
from orca.stages.controls import body_of, finetune_of, freeze_except_layer_norms
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


def test_methods_map_to_bodies_and_fine_tuning():
    assert body_of("none") == body_of("otdd-exact") == body_of("frozen-body") == body_of("lora") == "pretrained"
    assert body_of("random-body") == "random" and body_of("attention1-body") == "attention1"
    assert body_of("no-body") == "none"
    assert finetune_of("frozen-body") == "frozen" and finetune_of("lora") == "lora"
    assert finetune_of("none") == finetune_of("random-body") == "full" and finetune_of("otdd-exact", "lora") == "lora"


def _config(controls):
    config = yaml.safe_load(open("config/config.yaml"))
    config["tables"]["default"]["controls"] = controls
    return config


def test_grid_plans_controls_as_refine_runs_without_an_align_job():
    grid = Grid(_config(sorted(methods_of_kind("control"))))
    runs = grid.table_runs("default", "results")
    for control in methods_of_kind("control"):
        assert f"results/runs/iris/minilm-l6/{control}/clean/seed0.json" in runs  # the default protocol
        assert not grid.trains_embedder(control)


def test_unknown_control_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown control 'thawed-body'"):
        Grid(_config(["thawed-body"]))


def test_lora_refine_trains_only_the_adapters_of_the_body(iris, tiny_text_body):
    task, root = iris
    body = copy.deepcopy(tiny_text_body)
    before = {k: v.clone() for k, v in body.state_dict().items()}
    rec = run_refine(task, "roberta-base", "lora", 0, root / "lora.json", root / "data", body=body,
                     log=lambda *_: None)
    after = {k.replace(".base_layer", ""): v for k, v in body.state_dict().items()}  # peft wraps each target
    assert set(before) < set(after)
    changed = {k for k in after if k not in before or not torch.equal(before[k], after[k])}
    assert changed and all("lora_" in k for k in changed), sorted(changed)  # the base weights never move
    ft = rec["finetune"]
    assert rec["body"] == "pretrained" and ft["finetune"] == "lora"
    assert ft["lora"] == {"rank": 8, "alpha": 8, "dropout": 0.0, "target_modules": ["query", "value"]}
    # 2 layers x (query + value) x r (in + out) = 2 x 2 x 8 x (32 + 32)
    assert ft["body_trainable_parameters"] == 2 * 2 * 8 * 64
    assert rec["settings"]["task"]["refine"]["finetune"] == "lora" and rec["settings"]["task"]["refine"]["lora"]


def test_attention1_and_no_body_replace_the_encoder(iris, tiny_text_body):
    task, root = iris
    width = tiny_text_body.width
    recs = {m: run_refine(task, "roberta-base", m, 0, root / f"{m}.json", root / "data",
                          body=copy.deepcopy(tiny_text_body), log=lambda *_: None)
            for m in ("attention1-body", "no-body", "none")}
    assert recs["attention1-body"]["body"] == "attention1" and recs["no-body"]["body"] == "none"
    body_params = {m: r["finetune"]["body_trainable_parameters"] for m, r in recs.items()}
    assert body_params["no-body"] == 0
    assert body_params["attention1-body"] == 4 * width * width + 4 * width  # in-projection (q, k, v) + out-projection
    assert body_params["none"] == sum(p.numel() for p in tiny_text_body.encoder.parameters())
    for rec in recs.values():
        assert np.isfinite(rec["scores"]["test_at_best_val"])


def test_replaced_image_bodies_keep_the_patch_grid(tiny_image_body):
    from orca.model.network import build_model
    from orca.model.replacement_bodies import replace_body
    from orca.spec.sections import EmbedderSpec

    emb = EmbedderSpec(target_seq_len=64, patch_size=4, image_size=None)
    x = torch.randn(2, 3, 16, 16)
    for kind in ("attention1", "none"):
        body = replace_body(copy.deepcopy(tiny_image_body), kind, seed=0)
        pooled = build_model(body, "2d", (3, 16, 16), emb, "classification", (5,))
        dense = build_model(body, "2d", (3, 16, 16), emb, "dense", (2, 16, 16))
        assert pooled(x).shape == (2, 5) and dense(x).shape == (2, 2, 16, 16)
        assert body.out_width == tiny_image_body.width and body.downsample == 1


def test_a_control_s_refine_settings_are_in_its_job_settings_and_hash(iris):
    from tests.stage_jobs import job_for

    task, _ = iris
    jobs = {m: job_for(task, "refine", "roberta-base", m) for m in ("none", "lora", "frozen-body", "no-body")}
    refine = {m: j.settings["task"]["refine"] for m, j in jobs.items()}
    assert refine["none"]["finetune"] == "full" and "lora" not in refine["none"]
    assert refine["lora"]["finetune"] == "lora" and refine["lora"]["lora"]["rank"] == 8
    assert refine["frozen-body"]["finetune"] == "frozen" and "lora" not in refine["frozen-body"]
    assert len({j.settings_hash for j in jobs.values()}) == 3  # no-body changes the body, not a setting: its method
    assert jobs["no-body"].settings_hash == jobs["none"].settings_hash  # names it (the job's identity)
    ranked = load_task("benchmarks/offline/iris.yaml", {**OVERRIDES, "refine": {**OVERRIDES["refine"],
                                                                                "lora": {"rank": 4}}})
    assert job_for(ranked, "refine", "roberta-base", "lora").settings_hash != jobs["lora"].settings_hash
    assert job_for(ranked, "refine", "roberta-base", "none").settings_hash == jobs["none"].settings_hash
