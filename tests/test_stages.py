"""Align and refine on a real task (iris through the openml client) with a tiny random body."""
import copy
import json

import numpy as np
import pytest
import torch

from tests.stage_jobs import run_align
from tests.stage_jobs import run_refine
from orca.spec.tasks import load_task

OVERRIDES = {"align": {"epochs": 3, "maxsamples": 16}, "refine": {"epochs": 3, "batch_size": 32}}


@pytest.fixture(scope="module")
def setup(iris_with_source):
    return load_task("benchmarks/offline/iris.yaml", OVERRIDES), iris_with_source


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


# --------------------------------------------------------------------------- task-file scoring options
def _fake_predict(outputs):
    """A stand-in for refine.predict: fixed outputs (a function of x), passed through refine's decoder."""
    def predict(model, x, batch_size, device, decode=None):
        out = torch.from_numpy(outputs(x))
        return (out if decode is None else decode(out)).numpy()
    return predict


def test_refine_decodes_normalised_targets_before_loss_and_metric(toy_task, tiny_text_body, tmp_path, monkeypatch):
    from orca.evaluation.metrics import nrmse
    from orca.data.taskdata import prepare_split

    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 1, 8)).astype(np.float32)
    y = (4 * x + 10).astype(np.float32)
    task = toy_task({"x_train": x[:40], "y_train": y[:40], "x_test": x[40:], "y_test": y[40:]},
                    {"data": {"normalize": {"inputs": "fit", "targets": "fit"}}})
    data = prepare_split(task, 0, tmp_path / "data")
    # a model that outputs 0 on the normalised scale predicts the training part's per-channel target mean
    monkeypatch.setattr("orca.stages.refine.predict", _fake_predict(lambda xs: np.zeros((len(xs), 1, 8), np.float32)))
    rec = run_refine(task, "roberta-base", "none", 0, tmp_path / "r.json", tmp_path / "data",
                     body=copy.deepcopy(tiny_text_body), log=lambda *_: None)
    expected = nrmse(data.y_test, np.full_like(data.y_test, data.y_train.mean()))
    assert rec["scores"]["test_last_epoch"] == pytest.approx(expected, rel=1e-4)
    assert rec["settings"]["task"]["data"]["normalize"] == {"inputs": "fit", "targets": "fit"}
    assert np.isfinite(rec["history"][0]["train_loss"])


def test_refine_scores_validation_and_test_per_clip(toy_task, tiny_text_body, tmp_path, monkeypatch):
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(2)
    clips = {"train": np.repeat(np.arange(20), 2), "test": np.repeat(np.arange(100, 106), 3)}
    arrays = {}
    for part, ids in clips.items():
        labels = rng.integers(0, 2, (ids.max() + 1, 3))
        labels[:, 0] = 1 - labels[:, 1]  # every label has positives and negatives
        arrays[f"x_{part}"] = rng.normal(size=(len(ids), 1, 8)).astype(np.float32)
        arrays[f"y_{part}"] = labels[ids].astype(np.float32)
        arrays[f"clip_ids_{part}"] = ids
    task = toy_task(arrays, {"output": {"kind": "multilabel"}, "loss": {"name": "bce_logits"},
                             "metric": "one_minus_map", "eval": {"group_by": "clip_ids"}})
    monkeypatch.setattr("orca.stages.refine.predict", _fake_predict(lambda xs: np.ascontiguousarray(xs[:, 0, :3])))
    rec = run_refine(task, "roberta-base", "none", 0, tmp_path / "c.json", tmp_path / "data",
                     body=copy.deepcopy(tiny_text_body), log=lambda *_: None)
    # by hand: mean of the chunk outputs per clip, then 1 - macro AP over the 6 test clips
    ids = clips["test"]
    clip_scores = np.stack([arrays["x_test"][ids == c, 0, :3].mean(axis=0) for c in np.unique(ids)])
    clip_labels = np.stack([arrays["y_test"][ids == c][0] for c in np.unique(ids)])
    keep = clip_labels.sum(axis=0) > 0
    expected = 1 - average_precision_score(clip_labels[:, keep], clip_scores[:, keep], average="macro")
    assert rec["scores"]["test_last_epoch"] == pytest.approx(expected)
    assert rec["num_val"] % 2 == 0 and rec["settings"]["task"]["eval"] == {"group_by": "clip_ids"}


def test_refine_trains_on_maps_with_missing_targets(toy_task, tiny_image_body, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 1, 28, 28)).astype(np.float32)
    y = (5 + 3 * np.abs(x)).astype(np.float32)
    y[:, :, :3] = np.nan  # PSICOV-like missing distances
    task = toy_task({"x_train": x[:9], "y_train": y[:9], "x_test": x[9:], "y_test": y[9:]},
                    {"input": {"modality": "2d"}, "output": {"ignore": {"nan": True}}, "loss": {"name": "mse"},
                     "metric": "mae8", "embedder": {"patch_size": 4, "image_size": 56},
                     "data": {"normalize": {"targets": "fit"}}, "refine": {"epochs": 2, "batch_size": 4}})
    rec = run_refine(task, "swin-base", "none", 0, tmp_path / "m.json", tmp_path / "data",
                     body=copy.deepcopy(tiny_image_body), log=lambda *_: None)
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val"]) for h in rec["history"])
    assert np.isfinite(rec["scores"]["test_at_best_val"])


# --------------------------------------------------------------------------- evaluation protocols
def test_original_protocol_trains_on_every_row_and_reports_the_test_selected_epoch(setup, tiny_text_body):
    task, root = setup
    rec = run_refine(task, "roberta-base", "none", 1, root / "o.json", root / "data", body=copy.deepcopy(tiny_text_body),
                     log=lambda *_: None, protocol="original")
    assert rec["protocol"] == "original" and rec["num_train"] == 135 and rec["num_val"] == 0  # no validation carve
    assert set(rec["scores"]) == {"test_best_epoch_original", "test_last_epoch", "best_epoch"}
    tests = [h["test"] for h in rec["history"]]  # the test set scored after every epoch
    assert len(tests) == 3 and rec["scores"]["test_best_epoch_original"] == min(tests)
    assert rec["scores"]["best_epoch"] == tests.index(min(tests)) + 1 and rec["scores"]["test_last_epoch"] == tests[-1]
    clean = run_refine(task, "roberta-base", "none", 1, root / "cl.json", root / "data",
                       body=copy.deepcopy(tiny_text_body), log=lambda *_: None)
    assert clean["protocol"] == "clean" and clean["num_train"] + clean["num_val"] == 135 and clean["num_val"] > 0
    assert "val" in clean["history"][0] and "test" not in clean["history"][0]


def test_original_protocol_aligns_on_every_training_row_with_the_original_solver(setup, tiny_text_body, monkeypatch):
    import orca.align.distances as distances
    from orca.align.annealed_sinkhorn import OTDDExactOriginalSolver

    task, root = setup
    task = load_task(task.path, {**OVERRIDES, "align": {"epochs": 1, "maxsamples": 16}})
    made, real = [], distances.make_aligner
    monkeypatch.setattr(distances, "make_aligner", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    orig = run_align(task, "roberta-base", "otdd-exact", 0, root / "src.npz", root / "al-o", root / "data",
                     body=tiny_text_body, log=lambda *_: None, protocol="original")
    clean = run_align(task, "roberta-base", "otdd-exact", 0, root / "src.npz", root / "al-c", root / "data",
                      body=tiny_text_body, log=lambda *_: None)
    assert isinstance(made[0], OTDDExactOriginalSolver) and not isinstance(made[1], OTDDExactOriginalSolver)
    assert (orig["protocol"], orig["solver"], orig["num_train"]) == ("original", "original", 135)
    assert (clean["protocol"], clean["solver"]) == ("clean", "converged") and clean["num_train"] < 135


def test_original_protocol_scores_the_test_set_in_eval_batch_size_chunks(toy_task, tiny_text_body, tmp_path, monkeypatch):
    from orca.evaluation.metrics import nrmse

    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 1, 8)).astype(np.float32)
    y = (x + 3).astype(np.float32)
    task = toy_task({"x_train": x[:20], "y_train": y[:20], "x_test": x[20:], "y_test": y[20:]},
                    {"refine": {"epochs": 1, "batch_size": 3, "eval_batch_size": 4}})
    noise = np.linspace(0.1, 3.0, 10, dtype=np.float32)[:, None, None]  # later samples predicted worse
    monkeypatch.setattr("orca.stages.refine.predict", _fake_predict(lambda xs: xs + 3 + noise[: len(xs)]))
    rec = run_refine(task, "roberta-base", "none", 0, tmp_path / "o.json", tmp_path / "data",
                     body=copy.deepcopy(tiny_text_body), log=lambda *_: None, protocol="original")
    yt, pt = y[20:], x[20:] + 3 + noise
    chunks = [(0, 6), (6, 10)]  # loader batches of 3 until >= 4 samples
    expected = np.mean([nrmse(yt[a:b], pt[a:b]) for a, b in chunks])
    assert rec["scores"]["test_last_epoch"] == pytest.approx(expected, rel=1e-5)
    assert abs(expected - nrmse(yt, pt)) > 1e-3  # not the whole-set metric


def test_align_solver_from_the_task_file_reaches_the_aligner(setup, tiny_text_body, monkeypatch):
    # align.solver (schema-checked) picks the OTDD solver: original = geomloss 0.2.x's annealed loop
    import orca.align.distances as distances
    from orca.align.annealed_sinkhorn import OTDDExactOriginalSolver

    task, root = setup
    made, real = [], distances.make_aligner
    monkeypatch.setattr(distances, "make_aligner", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    task = load_task(task.path, {**OVERRIDES, "align": {"epochs": 2, "maxsamples": 16, "solver": "original"}})
    rec = run_align(task, "roberta-base", "otdd-exact", 0, root / "src.npz", root / "orig", root / "data",
                    body=tiny_text_body, log=lambda *_: None)
    assert rec["solver"] == "original" and isinstance(made[0], OTDDExactOriginalSolver)
    assert len(rec["distance_per_epoch"]) == 2 and all(np.isfinite(rec["distance_per_epoch"]))
    with pytest.raises(Exception, match="solver"):
        load_task(task.path, {"align": {"solver": "geomloss"}})


def test_random_body_runs_load_the_same_seeded_body_with_the_task_dropout(setup, tiny_text_body, monkeypatch):
    """body.pretrained false (--body random): align and refine both build the random body of the run's seed
    (align ignores the pretrained body's saved embeddings); refine writes body.dropout into its config."""
    import orca.stages.align as align_mod
    import orca.stages.refine as refine_mod
    from orca.model.backbones import load_body, tiny_config

    task, root = setup
    calls = []

    def tiny_load(name, pretrained=True, dropout=None, seed=0, **_):
        calls.append({"pretrained": pretrained, "dropout": dropout, "seed": seed})
        return load_body("roberta-base", pretrained=False, config_overrides=tiny_config("roberta-base"),
                         dropout=dropout, seed=seed)

    monkeypatch.setattr(align_mod, "load_body", tiny_load)
    monkeypatch.setattr(refine_mod, "load_body", tiny_load)
    random = load_task(task.path, {**OVERRIDES, "body": {"pretrained": False, "dropout": 0.2}})
    tiny_text_body.embedding_init().save(root / "pretrained.embeddings.pt")
    rec = run_align(random, "roberta-base", "l2", 7, root / "src.npz", root / "rnd", root / "data",
                    embeddings=root / "pretrained.embeddings.pt", log=lambda *_: None)
    out = run_refine(random, "roberta-base", "l2", 7, root / "rnd.json", root / "data",
                     embedder_path=root / "rnd" / "embedder.pt", log=lambda *_: None)
    assert calls == [{"pretrained": False, "dropout": None, "seed": 7},   # align: only the embedder's start
                     {"pretrained": False, "dropout": 0.2, "seed": 7}]    # refine: the same body, its dropout
    assert rec["body"] == out["body"] == "random" and out["settings"]["task"]["body"]["dropout"] == 0.2
