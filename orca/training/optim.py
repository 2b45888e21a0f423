"""Optimizers, learning-rate schedules and gradient accumulation, as the task files spell them.

The behaviour is the released ORCA code's (src/task_configs.py get_optimizer / get_scheduler /
get_optimizer_scheduler, src/main.py train_one_epoch):

* Adam and AdamW use the task's ``betas`` (ORCA: (0.9, 0.98) in every config); SGD uses momentum.
* ``warmup_linear`` (ORCA's WarmupLR) is stepped after every loader batch. With n = batches per
  epoch, w = warmup_epochs x n and T = decay_epochs x n, the factor at batch counter s is s / w while
  s < w, then (T - s) / (T - w): a linear decay that reaches 0 at decay_epochs.
* ``step`` (ORCA's StepLR lambda) is stepped once per epoch: base ** #{m in milestones: epoch > m}.
* Gradient accumulation: every micro-batch loss is backpropagated unscaled (the gradients of ``accum``
  micro-batches add up), the norm is clipped after each backward, and the optimizer steps after every
  ``accum``-th micro-batch of an epoch; a trailing partial group is dropped at the next epoch's start.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

# torch is imported inside the functions that use it: the schedule settings (align_lr, resolve_schedule,
# check_schedule) are resolved whenever a task file is loaded, also while Snakemake plans, which needs no torch.
if TYPE_CHECKING:
    import torch

DEFAULT_BETAS = (0.9, 0.98)
SCHEDULE_DEFAULTS: dict[str, dict] = {
    "warmup_linear": {"warmup_epochs": 0, "decay_epochs": None},  # decay_epochs None: the stage's epochs
    "step": {"milestones": [20, 40, 60], "base": 0.2},
}


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.9,
                   betas=DEFAULT_BETAS):
    """adam / adamw with ``betas`` (fused kernels: 4x faster steps than the default on CPU) or sgd with momentum."""
    import torch

    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        params, betas = list(params), tuple(float(b) for b in betas)
        try:
            return cls(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)
        except (RuntimeError, ValueError):  # a device or dtype without fused kernels
            return cls(params, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; allowed: adam, adamw, sgd")


def align_lr(task_lr: float) -> float:
    """The embedder's learning rate in align (ORCA get_optimizer_scheduler, module='embedder'):
    10 x the task lr when that is <= 1e-3, else the task lr itself."""
    return task_lr * 10 if task_lr <= 1e-3 else task_lr


def warmup_linear_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """ORCA's WarmupLR multiplier at batch counter ``step`` (0 at the first batch of training)."""
    if warmup_steps > 0 and step < warmup_steps:
        return step / warmup_steps
    return (total_steps - step) / (total_steps - warmup_steps)


def step_factor(epoch: int, milestones: list[int], base: float) -> float:
    """ORCA's StepLR multiplier for ``epoch`` (0-based): base ** #{m in milestones: epoch > m}."""
    return base ** sum(epoch > m for m in milestones)


def resolve_schedule(spec: dict | None, epochs: int, default_kind: str) -> dict:
    """A schedule setting with its kind's defaults filled in (decay_epochs defaults to ``epochs``)."""
    spec = dict(spec or {})
    kind = spec.setdefault("kind", default_kind)
    if kind not in SCHEDULE_DEFAULTS:
        raise ValueError(f"unknown scheduler kind {kind!r}; allowed: {', '.join(SCHEDULE_DEFAULTS)}")
    out = {"kind": kind, **SCHEDULE_DEFAULTS[kind], **spec}
    if kind == "warmup_linear" and out["decay_epochs"] is None:
        out["decay_epochs"] = epochs
    return out


def check_schedule(spec: dict, epochs: int) -> None:
    """Raise ValueError when a resolved schedule would divide by zero or turn the learning rate negative."""
    if spec["kind"] != "warmup_linear":
        return
    warmup, decay = spec["warmup_epochs"], spec["decay_epochs"]
    if decay <= warmup:
        raise ValueError(f"scheduler.decay_epochs ({decay}) must exceed scheduler.warmup_epochs ({warmup})")
    if decay < epochs:
        raise ValueError(f"scheduler.decay_epochs ({decay}) is below epochs ({epochs}): the linear decay would "
                         f"make the learning rate negative after epoch {decay}; set decay_epochs >= {epochs}")


class LRSchedule:
    """A LambdaLR stepped where the original steps it: after every batch (warmup_linear) or after every
    epoch (step). Call ``batch_done`` after each loader batch and ``epoch_done`` after each epoch; a stage
    whose epoch is one optimizer step (align) calls both with ``batches_per_epoch=1``."""

    def __init__(self, optimizer: torch.optim.Optimizer, spec: dict, batches_per_epoch: int):
        import torch

        self.per_batch = spec["kind"] == "warmup_linear"
        if self.per_batch:
            warmup = int(spec["warmup_epochs"] * batches_per_epoch)
            total = int(spec["decay_epochs"] * batches_per_epoch)
            factor = lambda s: warmup_linear_factor(s, warmup, total)  # noqa: E731
        else:
            factor = lambda e: step_factor(e, spec["milestones"], spec["base"])  # noqa: E731
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def batch_done(self) -> None:
        if self.per_batch:
            self._step()

    def epoch_done(self) -> None:
        if not self.per_batch:
            self._step()

    def _step(self) -> None:
        with warnings.catch_warnings():  # with accum > 1 ORCA's schedule moves before the first optimizer step
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


def accumulated_backward(loss: torch.Tensor, params, clip: float | None) -> None:
    """Backpropagate one micro-batch loss unscaled (gradients add up over the group), then clip the
    accumulated gradient's norm to ``clip`` when it is > 0 (ORCA clips after every micro-batch)."""
    import torch

    loss.backward()
    if clip is not None and clip > 0:
        torch.nn.utils.clip_grad_norm_(params, clip)


def is_step_batch(batch_index: int, accum: int) -> bool:
    """Whether the optimizer steps after micro-batch ``batch_index`` (0-based within the epoch)."""
    return (batch_index + 1) % accum == 0
