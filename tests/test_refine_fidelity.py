"""The align and refine stages train as the released ORCA code (issue 11, facts 1-3, 7, 8): the lr the stage
uses at every optimizer step, when it steps, the betas it passes, align's optimizer and schedule, and how
many samples of each class align embeds."""
import copy

import numpy as np
import pytest
import torch

from orca.training.optim import make_optimizer
from orca.stages.sources import save_source
from orca.stages.align import class_sample_count
from tests.stage_jobs import run_align
from tests.stage_jobs import run_refine
from orca.data.taskdata import prepare_split


class StepLog:
    """Patches a stage's make_optimizer: records every optimizer built, the lr of every step, and the
    parameters before and after each step (``moves``: per step, the list of before - after tensors)."""

    def __init__(self, monkeypatch, module: str):
        self.built, self.steps, self.moves, self._before = [], [], [], None
        monkeypatch.setattr(f"orca.stages.{module}.make_optimizer", self.make)

    def make(self, *args, **kwargs):
        opt = make_optimizer(*args, **kwargs)
        self.built.append(opt)
        params = lambda: [p for g in opt.param_groups for p in g["params"]]  # noqa: E731

        def pre(optimizer, *_):
            self.steps.append(optimizer.param_groups[0]["lr"])
            self._before = [p.detach().clone() for p in params()]

        def post(optimizer, *_):
            self.moves.append([b - p.detach() for b, p in zip(self._before, params())])

        opt.register_step_pre_hook(pre)
        opt.register_step_post_hook(post)
        return opt


def _regression(n_train=40, n_test=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_train + n_test, 1, 8)).astype(np.float32)
    y = (2 * x + 1).astype(np.float32)
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]}


def _classes(sizes, seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(s, c) for c, s in enumerate(sizes)]).astype(np.int64)
    x = (rng.normal(size=(len(y), 1, 8)) + y[:, None, None]).astype(np.float32)
    test = np.arange(len(sizes)).repeat(2)
    return {"x_train": x, "y_train": y, "x_test": x[test], "y_test": test}


CLASSIFY = {"output": {"kind": "classification"}, "loss": {"name": "cross_entropy"}, "metric": "zero_one_error_pct"}


def _refine(task, body, tmp_path, name="r"):
    return run_refine(task, "roberta-base", "none", 0, tmp_path / f"{name}.json", tmp_path / "data",
                      body=copy.deepcopy(body), log=lambda *_: None)


def _align(task, body, tmp_path, name="a"):
    rng = np.random.default_rng(0)
    save_source({"xs": rng.normal(size=(30, body.width)).astype(np.float32), "ys": rng.integers(0, 3, 30),
                 "origin": "test"}, tmp_path / "src.npz")
    return run_align(task, "roberta-base", "l2", 0, tmp_path / "src.npz", tmp_path / name, tmp_path / "data",
                     body=copy.deepcopy(body), log=lambda *_: None)


def test_refine_lr_at_every_step_of_a_tiny_run_equals_warmup_linear(toy_task, tiny_text_body, tmp_path, monkeypatch):
    lr, epochs, warmup, decay, bs = 0.01, 3, 1, 4, 8
    task = toy_task(_regression(), {"refine": {"epochs": epochs, "batch_size": bs, "lr": lr, "optimizer": "sgd",
                                               "scheduler": {"kind": "warmup_linear", "warmup_epochs": warmup,
                                                             "decay_epochs": decay}}})
    n = -(-len(prepare_split(task, 0, tmp_path / "data").x_train) // bs)  # loader batches per epoch
    log = StepLog(monkeypatch, "refine")
    _refine(task, tiny_text_body, tmp_path)
    w, total = warmup * n, decay * n
    expected = [lr * (s / w if s < w else (total - s) / (total - w)) for s in range(epochs * n)]
    assert log.steps == pytest.approx(expected, abs=1e-12)


def test_refine_steps_every_accum_batches_on_summed_gradients(toy_task, tiny_text_body, tmp_path, monkeypatch):
    bs, accum, epochs = 4, 4, 2
    task = toy_task(_regression(), {"refine": {"epochs": epochs, "batch_size": bs, "accum": accum, "lr": 1e-3,
                                               "optimizer": "sgd", "momentum": 0.0, "clip": -1}})
    n = -(-len(prepare_split(task, 0, tmp_path / "data").x_train) // bs)
    assert n % accum != 0, "the test needs a trailing partial group"
    log = StepLog(monkeypatch, "refine")
    _refine(task, tiny_text_body, tmp_path)
    assert len(log.steps) == epochs * (n // accum)  # one step per full group; a trailing partial group never steps
    # the lr at step k is the warmup_linear factor of the group's last batch (no warm-up, decay over `epochs`)
    batches = [e * n + b for e in range(epochs) for b in range(n) if (b + 1) % accum == 0]
    assert log.steps == pytest.approx([1e-3 * (epochs * n - s) / (epochs * n) for s in batches])


def test_one_sgd_step_after_accum_micro_batches_moves_weights_by_lr_times_summed_gradient(
        toy_task, tiny_text_body, tmp_path, monkeypatch):
    import orca.stages.refine as refine_mod

    accum = 3
    task = toy_task(_regression(n_train=30), {"refine": {"epochs": 1, "batch_size": 4, "accum": accum, "lr": 0.05,
                                                         "optimizer": "sgd", "momentum": 0.0, "clip": -1}})
    micro = []  # the gradient of each micro-batch's loss, as the loss function returns it
    real = refine_mod.accumulated_backward

    def recording(loss, params, clip):
        params = list(params)
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        micro.append([torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)])
        real(loss, params, clip)

    monkeypatch.setattr(refine_mod, "accumulated_backward", recording)
    log = StepLog(monkeypatch, "refine")
    _refine(task, tiny_text_body, tmp_path)
    assert len(log.moves) == len(micro) // accum >= 2
    for k, (lr, move) in enumerate(zip(log.steps, log.moves)):
        group = micro[k * accum: (k + 1) * accum]
        summed = [sum(gs) for gs in zip(*group)]
        # float32 weights of size ~1 round each move to ~1e-7; a mean of the gradients would be 3x off
        assert max(m.abs().max().item() for m in move) > 1e-4
        for m, g in zip(move, summed):
            torch.testing.assert_close(m, lr * g, rtol=1e-3, atol=1e-6)


def test_betas_reach_refine_and_align_optimizers(toy_task, tiny_text_body, tmp_path, monkeypatch):
    task = toy_task(_classes([12, 12]), {**CLASSIFY, "refine": {"epochs": 1, "batch_size": 8, "optimizer": "adamw",
                                                                "betas": [0.8, 0.95], "weight_decay": 0.01}})
    assert task.align.betas == (0.8, 0.95)
    log = StepLog(monkeypatch, "refine")
    _refine(task, tiny_text_body, tmp_path)
    alog = StepLog(monkeypatch, "align")
    _align(task, tiny_text_body, tmp_path)
    for opt in (log.built[0], alog.built[0]):
        assert opt.param_groups[0]["betas"] == (0.8, 0.95) and opt.param_groups[0]["weight_decay"] == 0.01
    default = toy_task(_regression(), name="plain")
    assert default.refine.betas == (0.9, 0.98) == default.align.betas


def test_align_uses_the_task_optimizer_at_orca_lr_and_step_factors_per_epoch(toy_task, tiny_text_body, tmp_path,
                                                                             monkeypatch):
    task = toy_task(_classes([10, 10]), {**CLASSIFY, "refine": {"optimizer": "sgd", "lr": 1e-4, "momentum": 0.5,
                                                                "weight_decay": 0.01, "batch_size": 4},
                                         "align": {"epochs": 6, "maxsamples": 4,
                                                   "scheduler": {"kind": "step", "milestones": [1, 3], "base": 0.5}}})
    log = StepLog(monkeypatch, "align")
    _align(task, tiny_text_body, tmp_path)
    opt = log.built[0]
    assert isinstance(opt, torch.optim.SGD)
    group = opt.param_groups[0]
    assert (group["momentum"], group["weight_decay"], group["initial_lr"]) == (0.5, 0.01, pytest.approx(1e-3))
    assert log.steps == pytest.approx([1e-3 * f for f in (1, 1, 0.5, 0.5, 0.25, 0.25)])
    big = toy_task(_classes([10, 10]), {**CLASSIFY, "refine": {"lr": 0.01}}, name="big")
    assert big.align.lr == 0.01  # above 1e-3 the task lr is used as it is
    assert big.align.scheduler == {"kind": "step", "milestones": [20, 40, 60], "base": 0.2}


def test_align_embeds_orca_count_of_each_class(toy_task, tiny_text_body, tmp_path, monkeypatch):
    sizes, bs, maxsamples = [30, 14, 7, 1], 4, 8
    task = toy_task(_classes(sizes), {**CLASSIFY, "data": {"val_fraction": 0.1},
                                      "refine": {"batch_size": bs}, "align": {"epochs": 1, "maxsamples": maxsamples}})
    y_train = prepare_split(task, 0, tmp_path / "data").y_train
    seen = []
    import orca.align.distances as distances_mod  # the protocol's aligner factory builds through it

    real = distances_mod.make_aligner

    def recording(name, **options):  # options: align.solver (make_aligner's keyword)
        d = real(name, **options)
        inner = d.__call__

        class Wrapped:
            def prepare(self, *a):
                return d.prepare(*a)

            def __call__(self, feats, ys):
                seen.append(len(feats))
                return inner(feats, ys)
        return Wrapped()

    monkeypatch.setattr(distances_mod, "make_aligner", recording)
    _align(task, tiny_text_body, tmp_path)
    counts = np.bincount(y_train)
    # batches of 4 until more than 8 are collected: 12 samples, or the whole class; a 1-sample class is skipped
    expected = sorted(min(c, 12) for c in counts if c > 1)
    assert sorted(seen) == expected and 12 in seen


def test_class_sample_count_rule():
    assert class_sample_count(500, 32, 128) == 160  # CIFAR-100: 5 batches of 32, not 128
    assert class_sample_count(500, 32, 127) == 128
    assert class_sample_count(100, 4, 128) == 100 and class_sample_count(50, 64, 256) == 50
    assert class_sample_count(1000, 1, 64) == 65


def test_refine_with_accum_stopped_mid_epoch_resumes_to_the_same_run(toy_task, tiny_text_body, tmp_path, monkeypatch):
    """The per-batch schedule and the accumulation groups survive a mid-epoch checkpoint (SIGUSR1 at step 2)."""
    import os
    import signal

    from orca.training.checkpoint import Preempted

    task = toy_task(_regression(), {"refine": {"epochs": 2, "batch_size": 4, "accum": 2, "lr": 1e-3,
                                               "scheduler": {"kind": "warmup_linear", "warmup_epochs": 1,
                                                             "decay_epochs": 2}}})
    reference = _refine(task, tiny_text_body, tmp_path, name="ref")
    log = StepLog(monkeypatch, "refine")
    real_make = log.make

    def make(*a, **k):
        opt = real_make(*a, **k)
        opt.register_step_post_hook(lambda *_: len(log.steps) == 2 and os.kill(os.getpid(), signal.SIGUSR1))
        return opt

    monkeypatch.setattr("orca.stages.refine.make_optimizer", make)
    run = lambda: run_refine(task, "roberta-base", "none", 0, tmp_path / "cut.json", tmp_path / "data",  # noqa: E731
                             body=copy.deepcopy(tiny_text_body), log=lambda *_: None, checkpoint_dir=tmp_path / "ck")
    with pytest.raises(Preempted):
        run()
    assert not (tmp_path / "cut.json").exists() and list((tmp_path / "ck").glob("*.pt"))
    first = list(log.steps)
    monkeypatch.setattr("orca.stages.refine.make_optimizer", log.make)  # no more signals
    resumed = run()
    assert len(first) == 2 and log.steps[:2] == first
    assert resumed["scores"] == reference["scores"] and resumed["history"] == reference["history"]
