"""refine.augment: random crop / horizontal flip per training batch, seeded, never on validation/test."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import orca.stages.refine as refine_mod
from orca.training.augment import batch_generator, hflip, make_augmenter, random_crop
from orca.data.normalize import fit_normalizer
from tests.stage_jobs import run_refine
from orca.data.taskdata import prepare_split
from orca.spec.tasks import Task, TaskError, find_task_files, load_task, resolve_task
from tests.stage_jobs import job_hash, task_settings

REPO = Path(__file__).resolve().parents[1]
AUG = {"random_crop": {"padding": 2}, "hflip": True}


def windows(padded: torch.Tensor, h: int, w: int) -> list[torch.Tensor]:
    """Every (C, h, w) window of one padded (C, H', W') image."""
    return [padded[:, i: i + h, j: j + w] for i in range(padded.shape[1] - h + 1) for j in range(padded.shape[2] - w + 1)]


def test_crop_keeps_the_shape_and_takes_a_window_of_the_padded_image():
    x = torch.rand(16, 3, 8, 6)
    fill = torch.tensor([-1.0, -2.0, -3.0])
    out = random_crop(x, 2, fill, batch_generator(0, 0, 0))
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = fill.view(1, 3, 1, 1).expand(16, 3, 12, 10).clone()
    padded[:, :, 2:10, 2:8] = x
    for i in range(len(x)):
        assert any(torch.equal(out[i], win) for win in windows(padded[i], 8, 6))
    assert (out == -1.0).any(), "16 draws from 25 offsets never left the centre"


def test_crop_pads_with_the_raw_fill_encoded_like_the_data():
    """pad-then-normalise (ORCA's order) == normalise-then-pad with the encoded fill (what refine does)."""
    norm_spec = {"mean": [0.5071, 0.4867, 0.4408], "std": [0.2675, 0.2565, 0.2761]}
    raw = torch.rand(8, 3, 6, 6)
    norm = fit_normalizer(norm_spec, raw.numpy())
    got = make_augmenter({"random_crop": {"padding": 4}}, 3, 3, "2d", norm_spec)(torch.from_numpy(norm.encode(raw.numpy())), 1, 2)
    raw_crop = random_crop(raw, 4, torch.zeros(3), batch_generator(3, 1, 2))
    torch.testing.assert_close(got, torch.from_numpy(norm.encode(raw_crop.numpy())), rtol=0, atol=1e-6)


def test_hflip_mirrors_exactly_or_leaves_the_sample():
    x = torch.rand(32, 2, 5, 7)
    out = hflip(x, batch_generator(0, 0, 0))
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(len(x))]
    kept = [torch.equal(out[i], x[i]) for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    assert torch.equal(out[flipped.index(True)][..., 0], x[flipped.index(True)][..., -1])


def test_draws_are_a_function_of_seed_epoch_and_batch():
    x = torch.rand(8, 3, 10, 10)
    before = x.clone()
    a, b, c = make_augmenter(AUG, 0, 3), make_augmenter(AUG, 0, 3), make_augmenter(AUG, 1, 3)
    assert torch.equal(a(x, 0, 0), b(x, 0, 0)) and torch.equal(a(x, 3, 1), a(x, 3, 1))
    assert not torch.equal(a(x, 0, 0), c(x, 0, 0))
    assert not torch.equal(a(x, 0, 0), a(x, 0, 1)) and not torch.equal(a(x, 0, 0), a(x, 1, 0))
    assert torch.equal(x, before), "the training array must not be changed in place"


def test_no_augment_key_is_the_identity():
    x = torch.rand(4, 3, 8, 8)
    assert make_augmenter(None, 0, 3)(x, 0, 0) is x


def _write(tmp_path: Path, **changes) -> Path:
    spec = {"name": "aug", "title": "Aug", "suite": "test", "input": {"modality": "2d"},
            "output": {"kind": "classification"}, "data": {"loader": "arrays", "args": {}},
            "loss": {"name": "cross_entropy"}, "metric": "zero_one_error_pct", "embedder": {}, "align": {},
            "refine": {"augment": AUG}}
    for key, value in changes.items():
        spec[key] = {**spec[key], **value}
    path = tmp_path / "aug.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("changes,field", [
    ({"input": {"modality": "1d"}, "refine": {"augment": {"random_crop": {"padding": 4}}}}, "refine.augment.random_crop"),
    ({"input": {"modality": "1d"}, "refine": {"augment": {"hflip": True}}}, "refine.augment.hflip"),
    ({"data": {"normalize": {"inputs": "fit"}}}, "refine.augment.random_crop"),
    ({"refine": {"augment": {"random_crop": {"padding": 0}}}}, "refine.augment.random_crop.padding"),
    ({"refine": {"augment": {"random_crop": {}}}}, "refine.augment.random_crop"),
    ({"refine": {"augment": {"vflip": True}}}, "refine.augment"),
    ({"refine": {"augment": {}}}, "refine.augment"),
])
def test_bad_augment_settings_name_the_field(tmp_path, changes, field):
    with pytest.raises(TaskError, match=field.replace(".", r"\.")):
        load_task(_write(tmp_path, **changes))


def test_fixed_normalisation_and_no_normalisation_are_accepted(tmp_path):
    load_task(_write(tmp_path, data={"normalize": {"inputs": {"mean": [0.5], "std": [0.2]}}}))
    load_task(_write(tmp_path))


# refine hashes of a fixed task without refine.augment, computed with the code before augmentation existed;
# align and refine re-pinned deliberately when the body section (body.pretrained, body.dropout) entered them and
# refine.dropout left, and again when training became the released code's (issue 11: per-batch WarmupLR, betas,
# align with the task's optimizer and ORCA's StepLR lambda); all re-pinned when every job's settings became one
# resolved document (issue 18: stage, mode and whole task sections in the hash); refine re-pinned when
# refine.precision and body.attention entered its settings with their defaults (issue 19: fp32, eager; align
# reads body.pretrained only and kept its hash), and when refine.finetune entered them (issue 20: full): cached
# outputs are recomputed
PINNED_SPEC = {"name": "pinned", "title": "Pinned", "suite": "test", "input": {"modality": "2d", "shape": [3, 8, 8]},
               "output": {"kind": "classification", "num_outputs": 4},
               "data": {"loader": "arrays", "args": {"root": "pinned", "x_train": {"file": "p.npz", "key": "x_train"}},
                        "normalize": {"inputs": {"mean": [0.5], "std": [0.25]}}},
               "loss": {"name": "cross_entropy"}, "metric": "zero_one_error_pct", "embedder": {"patch_size": 4},
               "refine": {"epochs": 2, "batch_size": 4}, "align": {}}
PINNED = {"fetch": "94e2f7876c86", "align": "f8626050fdbe", "refine": "5e4072f440c4", "baseline": "a254c79b9be9"}
STAGES = ("fetch", "align", "refine", "baseline")


def test_tasks_without_augment_keep_their_hashes(tmp_path):
    path = tmp_path / "pinned.yaml"
    path.write_text(yaml.safe_dump(PINNED_SPEC))
    plain = load_task(path)
    assert {st: job_hash(plain, st) for st in STAGES} == PINNED
    augmented = load_task(path, {"refine": {"augment": AUG}})
    for st in ("fetch", "align", "baseline"):  # augmentation never reruns fetch, align or the baselines
        assert job_hash(augmented, st) == job_hash(plain, st)
    assert task_settings(augmented, "refine")["refine"]["augment"] == AUG
    assert job_hash(augmented, "refine") != PINNED["refine"]


def test_benchmark_files_carry_augment_only_where_declared():
    with_aug = {name for name, path in find_task_files([REPO / "benchmarks"]).items()
                if "augment" in task_settings(load_task(path), "refine")["refine"]}
    assert with_aug == {"cifar100"}
    cifar = resolve_task("cifar100", [REPO / "benchmarks"])
    assert cifar.refine.augment == {"random_crop": {"padding": 4}, "hflip": True}


# --- a tiny 2D refine run with augmentation ---------------------------------------------------------------

@pytest.fixture
def image_task(toy_task):
    rng = np.random.default_rng(0)
    x = rng.random(size=(22, 3, 12, 12)).astype(np.float32)
    y = np.tile([0, 1], 11)
    return toy_task({"x_train": x[:16], "y_train": y[:16], "x_test": x[16:], "y_test": y[16:]},
                    {"input": {"modality": "2d"}, "output": {"kind": "classification", "num_outputs": 2},
                     "loss": {"name": "cross_entropy"}, "metric": "zero_one_error_pct",
                     "embedder": {"patch_size": 4, "image_size": 56},
                     "data": {"val_fraction": 0.25, "normalize": {"inputs": {"mean": [0.5], "std": [0.25]}}},
                     "refine": {"epochs": 2, "batch_size": 4, "lr": 1e-3, "augment": AUG}}, name="img")


def spy_inputs(monkeypatch, on_train=None) -> list:
    """Record (training?, input batch) for every forward of the model refine builds."""
    seen = []
    build = refine_mod.build_model

    def hook(module, args):
        seen.append((module.training, args[0].detach().clone()))
        if module.training and on_train is not None:
            on_train(sum(t for t, _ in seen))

    def spied(*a, **k):
        model = build(*a, **k)
        model.register_forward_pre_hook(hook)
        return model

    monkeypatch.setattr(refine_mod, "build_model", spied)
    return seen


def refine(task, body, tmp_path, name, seed=0, **kw):
    return run_refine(task, "swin-base", "none", seed, tmp_path / f"{name}.json", tmp_path / "data",
                      body=copy.deepcopy(body), log=kw.pop("log", lambda *_: None), **kw)


def test_refine_augments_training_batches_only(image_task, tiny_image_body, tmp_path, monkeypatch):
    seen = spy_inputs(monkeypatch)
    rec = refine(image_task, tiny_image_body, tmp_path, "a")
    split = prepare_split(image_task, 0, tmp_path / "data")
    evals = [x for training, x in seen if not training]
    assert evals and all(torch.equal(x, torch.from_numpy(split.x_val)) or torch.equal(x, torch.from_numpy(split.x_test))
                         for x in evals)
    train = [x for training, x in seen if training]
    assert len(train) == 2 * 3  # 2 epochs x ceil(12 / 4) batches
    originals = torch.from_numpy(split.x_train)
    changed = [not any(torch.equal(xb[i], xo) for xo in originals) for xb in train for i in range(len(xb))]
    assert any(changed), "no training sample was cropped or flipped"
    assert rec["settings"]["task"]["refine"]["augment"] == AUG


def test_refine_with_augment_is_deterministic_per_seed(image_task, tiny_image_body, tmp_path):
    a = refine(image_task, tiny_image_body, tmp_path, "a")
    b = refine(image_task, tiny_image_body, tmp_path, "b")
    assert a["history"] == b["history"] and a["scores"] == b["scores"]
    spec = copy.deepcopy(image_task.spec)
    del spec["refine"]["augment"]
    plain = Task(image_task.name, image_task.path, spec)
    c = refine(plain, tiny_image_body, tmp_path, "c")
    assert c["history"][0]["train_loss"] != a["history"][0]["train_loss"]


class _Stop:
    """Stands in for refine's StopFlag: ``requested`` is set by the test instead of a signal."""
    requested = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_refine_with_augment_resumes_mid_epoch_identically(image_task, tiny_image_body, tmp_path, monkeypatch):
    reference = refine(image_task, tiny_image_body, tmp_path, "ref")
    monkeypatch.setattr(refine_mod, "StopFlag", _Stop)
    monkeypatch.setattr(_Stop, "requested", False)

    def stop_at(count: int) -> None:  # second batch of the second epoch
        if count == 3 + 2:
            _Stop.requested = True

    spy_inputs(monkeypatch, on_train=stop_at)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(refine_mod.Preempted):
        refine(image_task, tiny_image_body, tmp_path, "r", checkpoint_dir=ckpt)
    assert not (tmp_path / "r.json").exists() and list(ckpt.glob("refine-*.pt"))
    monkeypatch.setattr(_Stop, "requested", False)
    lines = []
    got = refine(image_task, tiny_image_body, tmp_path, "r", checkpoint_dir=ckpt, log=lines.append)
    assert any("resuming at epoch 2, batch 2" in line for line in lines)
    assert got["history"] == reference["history"] and got["scores"] == reference["scores"]
