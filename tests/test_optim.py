"""orca/training/optim.py: ORCA's optimizers, learning-rate schedules and gradient accumulation."""
import copy

import pytest
import torch

from orca.training.optim import (DEFAULT_BETAS, LRSchedule, accumulated_backward, align_lr, check_schedule, is_step_batch,
                        make_optimizer, resolve_schedule, step_factor, warmup_linear_factor)


def _params():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def _lrs_after_each_call(spec, batches_per_epoch, epochs, lr=0.5):
    """The lr in force for every batch of a run that calls batch_done per batch and epoch_done per epoch."""
    opt = torch.optim.SGD(_params().parameters(), lr=lr)
    sched = LRSchedule(opt, spec, batches_per_epoch)
    seen = []
    for _ in range(epochs):
        for _ in range(batches_per_epoch):
            seen.append(opt.param_groups[0]["lr"])
            sched.batch_done()
        sched.epoch_done()
    return seen


def test_warmup_linear_lr_at_every_batch_equals_orca_formula():
    n, warmup_epochs, decay_epochs, epochs, lr = 3, 2, 5, 5, 0.5
    w, total = warmup_epochs * n, decay_epochs * n
    expected = [lr * (s / w if s < w else (total - s) / (total - w)) for s in range(epochs * n)]
    got = _lrs_after_each_call({"kind": "warmup_linear", "warmup_epochs": warmup_epochs,
                                "decay_epochs": decay_epochs}, n, epochs, lr)
    assert got == pytest.approx(expected)
    assert got[0] == 0.0 and got[w] == pytest.approx(lr)  # ORCA's first batch trains at lr 0
    assert got[-1] == pytest.approx(lr / (total - w))     # one step before the decay reaches 0


def test_warmup_linear_without_warmup_decays_from_the_first_batch():
    got = _lrs_after_each_call({"kind": "warmup_linear", "warmup_epochs": 0, "decay_epochs": 2}, 2, 2, lr=1.0)
    assert got == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_step_schedule_changes_per_epoch_after_each_milestone_epoch():
    got = _lrs_after_each_call({"kind": "step", "milestones": [1, 3], "base": 0.5}, 2, 6, lr=1.0)
    per_epoch = got[::2]
    assert got[1::2] == per_epoch  # constant within an epoch
    # epoch e (0-based) gets base ** #{m: e > m}: the drop comes one epoch after torch's StepLR would
    assert per_epoch == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25, 0.25])
    assert [step_factor(e, [20, 40, 60], 0.2) for e in (20, 21, 41, 61)] == pytest.approx([1, 0.2, 0.04, 0.008])


def test_schedule_state_resumes_mid_run():
    spec = {"kind": "warmup_linear", "warmup_epochs": 1, "decay_epochs": 3}
    opt = torch.optim.SGD(_params().parameters(), lr=1.0)
    sched = LRSchedule(opt, spec, 4)
    for _ in range(5):
        sched.batch_done()
    opt2 = torch.optim.SGD(_params().parameters(), lr=1.0)
    sched2 = LRSchedule(opt2, spec, 4)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(copy.deepcopy(sched.state_dict()))
    sched.batch_done()
    sched2.batch_done()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(warmup_linear_factor(6, 4, 12))


def test_resolve_and_check_schedules():
    assert resolve_schedule(None, 7, "warmup_linear") == {"kind": "warmup_linear", "warmup_epochs": 0,
                                                          "decay_epochs": 7}
    assert resolve_schedule({"kind": "step", "base": 0.5}, 7, "warmup_linear") == \
        {"kind": "step", "milestones": [20, 40, 60], "base": 0.5}
    with pytest.raises(ValueError, match="negative"):
        check_schedule({"kind": "warmup_linear", "warmup_epochs": 1, "decay_epochs": 5}, 6)
    with pytest.raises(ValueError, match="must exceed"):
        check_schedule({"kind": "warmup_linear", "warmup_epochs": 5, "decay_epochs": 5}, 5)
    with pytest.raises(ValueError, match="unknown scheduler kind"):
        resolve_schedule({"kind": "cosine"}, 5, "step")


def _micro_batches(k=3):
    torch.manual_seed(1)
    return [(torch.randn(4, 3), torch.randn(4, 2)) for _ in range(k)]


def _grad_of(model, x, y):
    m = copy.deepcopy(model)
    torch.nn.functional.mse_loss(m(x), y).backward()
    return [p.grad.clone() for p in m.parameters()]


def test_one_sgd_step_after_accum_micro_batches_moves_weights_by_lr_times_summed_gradient():
    model, accum, lr = _params(), 3, 0.1
    batches = _micro_batches(accum)
    expected_grad = [sum(gs) for gs in zip(*(_grad_of(model, x, y) for x, y in batches))]
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for b, (x, y) in enumerate(batches):
        accumulated_backward(torch.nn.functional.mse_loss(model(x), y), model.parameters(), clip=None)
        if is_step_batch(b, accum):
            opt.step()
            opt.zero_grad()
        elif b < accum - 1:
            assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before)), "stepped too early"
    for p, p0, g in zip(model.parameters(), before, expected_grad):
        torch.testing.assert_close(p.detach(), p0 - lr * g)


def test_clipping_follows_every_micro_batch_backward():
    model, clip = _params(), 0.01
    (x1, y1), (x2, y2) = _micro_batches(2)
    g1, g2 = _grad_of(model, x1, y1), _grad_of(model, x2, y2)

    def clipped(gs):
        norm = torch.sqrt(sum((g ** 2).sum() for g in gs))
        return [g * min(1.0, clip / (norm.item() + 1e-6)) for g in gs]

    expected = clipped([a + b for a, b in zip(clipped(g1), g2)])  # clip(clip(g1) + g2), not clip(g1 + g2)
    for x, y in ((x1, y1), (x2, y2)):
        accumulated_backward(torch.nn.functional.mse_loss(model(x), y), model.parameters(), clip=clip)
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.grad, e)


def test_steps_fall_on_every_accum_th_batch_and_a_trailing_group_gets_none():
    assert [b for b in range(7) if is_step_batch(b, 3)] == [2, 5]  # batch 6 (partial group) never steps
    assert [b for b in range(3) if is_step_batch(b, 1)] == [0, 1, 2]


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_betas_reach_adam_and_adamw(name):
    opt = make_optimizer(name, _params().parameters(), 1e-3, weight_decay=0.01, betas=[0.8, 0.9])
    assert opt.param_groups[0]["betas"] == (0.8, 0.9) and opt.param_groups[0]["weight_decay"] == 0.01
    assert make_optimizer(name, _params().parameters(), 1e-3).param_groups[0]["betas"] == DEFAULT_BETAS == (0.9, 0.98)


def test_align_lr_is_ten_times_a_small_task_lr_else_the_task_lr():
    assert align_lr(1e-4) == pytest.approx(1e-3) and align_lr(1e-3) == pytest.approx(1e-2)
    assert align_lr(2e-3) == 2e-3
