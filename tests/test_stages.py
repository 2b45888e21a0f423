"""Align and refine on a real task (iris through the openml client) with a tiny random body."""
import copy
import json

import numpy as np
import pytest
import torch

from orca.align.stage import run_align
from orca.data import fetch
from orca.optim import epoch_lr_factor
from orca.refine import run_refine
from orca.sources import save_source
from orca.tasks import load_task

OVERRIDES = {"align": {"epochs": 3, "maxsamples": 16}, "refine": {"epochs": 3, "batch_size": 32}}


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_text_body):
    root = tmp_path_factory.mktemp("stages")
    task = load_task("benchmarks/offline/iris.yaml", OVERRIDES)
    fetch(task["data"]["loader"], task["data"]["args"], root / "data")
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(200, tiny_text_body.width)).astype(np.float32)
    save_source({"xs": xs, "ys": rng.integers(0, 4, 200), "origin": "test"}, root / "src.npz")
    return task, root


@pytest.mark.parametrize("aligner", ["l2", "otdd-gaussian"])
def test_align_lowers_the_distance_and_saves_the_embedder(setup, tiny_text_body, aligner):
    task, root = setup
    task = load_task(task.path, {**OVERRIDES, "align": {"epochs": 8, "maxsamples": 16, "lr": 0.05}})
    rec = run_align(task, "roberta-base", aligner, 0, root / "src.npz", root / aligner, root / "data",
                    body=tiny_text_body, log=lambda *_: None)
    d = rec["distance_per_epoch"]
    assert len(d) == 8 and d[-1] < d[0]
    state = torch.load(root / aligner / "embedder.pt", weights_only=True)
    assert "projection.weight" in state
    assert json.loads((root / aligner / "align.json").read_text())["settings_hash"] == rec["settings_hash"]


def test_refine_is_deterministic_on_cpu_and_records_both_scores(setup, tiny_text_body):
    task, root = setup
    a = run_refine(task, "roberta-base", "none", 1, root / "a.json", root / "data", body=copy.deepcopy(tiny_text_body),
                   log=lambda *_: None)
    b = run_refine(task, "roberta-base", "none", 1, root / "b.json", root / "data", body=copy.deepcopy(tiny_text_body),
                   log=lambda *_: None)
    assert a["scores"] == b["scores"] and a["history"] == b["history"]
    assert set(a["scores"]) == {"test_at_best_val", "test_last_epoch", "best_val", "best_epoch"}
    assert 0.0 <= a["scores"]["test_at_best_val"] <= 1.0
    assert a["num_train"] + a["num_val"] == 135 and a["num_test"] == 15
    assert a["data_sha256"] == b["data_sha256"] and len(a["data_sha256"]) == 64
    assert json.loads((root / "a.json").read_text())["provenance"]["run_file"].endswith("a.json")


def test_refine_starts_from_the_aligned_embedder(setup, tiny_text_body):
    task, root = setup
    run_align(task, "roberta-base", "l2", 0, root / "src.npz", root / "l2b", root / "data", body=tiny_text_body,
              log=lambda *_: None)
    a = run_refine(task, "roberta-base", "l2", 0, root / "c.json", root / "data",
                   embedder_path=root / "l2b" / "embedder.pt", body=copy.deepcopy(tiny_text_body), log=lambda *_: None)
    b = run_refine(task, "roberta-base", "none", 0, root / "d.json", root / "data", body=copy.deepcopy(tiny_text_body),
                   log=lambda *_: None)
    assert a["history"][0]["train_loss"] != b["history"][0]["train_loss"]


def test_warmup_then_step_schedule():
    factors = [epoch_lr_factor(e, 2, [3, 5], 0.5) for e in range(9)]
    assert factors == [0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
