"""Training losses by name: ``make_loss(name, **opts) -> torch.nn.Module``.

All modules are called as ``loss(output, target)`` and return a scalar tensor:

* ``cross_entropy``: output logits (N, K), target int labels (N,). Options:
  ``class_weights`` = a sequence of K floats, or ``"balanced"`` together with
  ``y_train`` (training labels, (M,)) -> weight_k = (1 / freq_k) normalised to mean 1
  over the K classes (K from ``num_classes`` if given, else max(y_train) + 1).
* ``mse``, ``l1``: any shape, mean over all elements.
* ``bce_logits``: multi-label logits (N, K), targets {0, 1} (N, K); option ``pos_weight``.
* ``relative_l2``: mean over samples of ||out_i - tgt_i||_2 / ||tgt_i||_2 (differentiable
  counterpart of :func:`orca.evaluation.metrics.relative_l2`; ORCA's nrmse_loss for most PDE rows). Option
  ``reduction="sum"``: summed over the batch instead (ORCA's ``LpLoss(size_average=False)``, Darcy flow).
* ``rmse``: mean over samples of the unnormalised per-sample RMSE sqrt(mean_j (out_ij - tgt_ij)^2)
  (ORCA's rmse_loss: PDE Burgers and 1D CFD).

Option ``ignore`` (a task's ``output.ignore``: ``{nan: true}`` and/or ``{value: -1}``) makes
``mse``, ``l1``, ``bce_logits`` and ``relative_l2`` skip those target entries. Option ``masked_mean``
(only read together with ``ignore``; the protocol's ``masked_loss_mean``) says how:

* ``"counted"`` (default; the clean protocol): the elementwise loss is averaged over the entries that
  count only (relative_l2: norms over them, mean over the samples that have any). A batch with no entry
  that counts gives 0.
* ``"all"`` (the original protocol): what the released ORCA code does for Cosmic (``main.py``
  ``train_one_epoch``: ``out = mask(out, z); y = mask(y, z)`` with ``utils.py`` ``mask`` =
  ``img * (1 - ignore)``, then the task's unmasked loss): output *and* target are zeroed at the ignored
  entries and the unmasked loss is taken over every entry. An ignored entry so adds loss(0, 0) to the sum
  (bce_logits: log 2; mse, l1: 0) with no gradient, and the mean divides by all entries (relative_l2: by
  all samples).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .loss_names import LOSS_KINDS, MASKABLE  # noqa: F401  (LOSS_KINDS re-exported)

__all__ = ["LOSSES", "LOSS_KINDS", "MASKABLE_LOSSES", "MASKED_MEANS", "MaskedLoss", "RMSELoss", "RelativeL2Loss", "balanced_class_weights", "make_loss"]


def balanced_class_weights(y_train: Sequence[int] | np.ndarray | torch.Tensor,
                           num_classes: int | None = None) -> torch.Tensor:
    """Inverse class frequency weights (K,), normalised to mean 1.

    ``y_train``: integer training labels (M,). A class absent from ``y_train`` is an error
    (its inverse frequency is infinite).
    """
    y = torch.as_tensor(np.asarray(y_train)).reshape(-1).long()
    k = int(num_classes) if num_classes is not None else int(y.max()) + 1
    counts = torch.bincount(y, minlength=k).double()
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).reshape(-1).tolist()
        raise ValueError(f"balanced class weights: classes {missing} have no training sample")
    w = 1.0 / counts
    return (w / w.mean()).float()


class RelativeL2Loss(nn.Module):
    """Mean (or, with ``reduction="sum"``, sum) over the batch of ||out_i - tgt_i||_2 / (||tgt_i||_2 + eps);
    shapes (N, ...)."""

    def __init__(self, eps: float = 1e-12, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"relative_l2 reduction must be 'mean' or 'sum', got {reduction!r}")
        self.eps, self.reduction = eps, reduction

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = target.shape[0]
        diff = (output.reshape(n, -1) - target.reshape(n, -1)).norm(dim=1)
        ratio = diff / (target.reshape(n, -1).norm(dim=1) + self.eps)
        return ratio.sum() if self.reduction == "sum" else ratio.mean()


class RMSELoss(nn.Module):
    """Mean over the batch of the per-sample RMSE sqrt(mean_j (out_ij - tgt_ij)^2), in target units;
    shapes (N, ...)."""

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = target.shape[0]
        return (output.reshape(n, -1) - target.reshape(n, -1)).pow(2).mean(dim=1).sqrt().mean()


class _BCEWithLogits(nn.BCEWithLogitsLoss):
    """BCE on logits that casts the {0,1} targets to the logits' dtype."""

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(output, target.to(output.dtype))


def _cross_entropy(class_weights=None, y_train=None, num_classes: int | None = None,
                   label_smoothing: float = 0.0) -> nn.Module:
    weight = None
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ValueError(f"class_weights must be a sequence or 'balanced', got {class_weights!r}")
        if y_train is None:
            raise ValueError("class_weights='balanced' needs the training labels as y_train=")
        weight = balanced_class_weights(y_train, num_classes)
    elif class_weights is not None:
        weight = torch.as_tensor(np.asarray(class_weights, dtype=np.float32))
        if num_classes is not None and weight.numel() != num_classes:
            raise ValueError(f"{weight.numel()} class weights for {num_classes} classes")
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)


def _bce_logits(pos_weight=None, reduction: str = "mean") -> nn.Module:
    pw = None if pos_weight is None else torch.as_tensor(np.asarray(pos_weight, dtype=np.float32))
    return _BCEWithLogits(pos_weight=pw, reduction=reduction)


def counted(target: torch.Tensor, ignore: dict) -> torch.Tensor:
    """Bool tensor of ``target``'s shape: True where the entry counts under ``ignore`` ({nan, value})."""
    valid = torch.ones_like(target, dtype=torch.bool)
    if ignore.get("nan") and target.is_floating_point():
        valid &= ~torch.isnan(target)
    if ignore.get("value") is not None:
        valid &= target != ignore["value"]
    return valid


MASKED_MEANS = ("counted", "all")


def _check_masked_mean(masked_mean: str) -> str:
    if masked_mean not in MASKED_MEANS:
        raise ValueError(f"masked_mean must be one of {', '.join(MASKED_MEANS)}, got {masked_mean!r}")
    return masked_mean


class MaskedLoss(nn.Module):
    """An elementwise loss (``reduction='none'``) with ignored target entries; any shape.

    ``masked_mean="counted"``: the mean over the target entries that count. ``"all"`` (the released code's
    ``mask`` transform): output and target zeroed at the ignored entries, the mean over all entries."""

    def __init__(self, elementwise: nn.Module, ignore: dict, masked_mean: str = "counted"):
        super().__init__()
        self.elementwise, self.ignore = elementwise, dict(ignore)
        self.masked_mean = _check_masked_mean(masked_mean)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = counted(target, self.ignore)
        safe = torch.where(valid, target, torch.zeros_like(target))  # NaN targets would poison the gradient
        if self.masked_mean == "all":
            # ORCA: out * (1 - ignore), y * (1 - ignore), then the loss's own mean over every entry
            return self.elementwise(output * valid.to(output.dtype), safe).mean()
        per_entry = self.elementwise(output, safe)
        return (per_entry * valid).sum() / valid.sum().clamp(min=1)


class MaskedRelativeL2Loss(RelativeL2Loss):
    """Relative L2 over the target entries that count: ||(out_i - tgt_i) * m_i||_2 / (||tgt_i * m_i||_2 + eps),
    averaged over the samples that have any (``masked_mean="counted"``) or over all samples (``"all"``: a
    sample with none counts 0); shapes (N, ...)."""

    def __init__(self, ignore: dict, eps: float = 1e-12, masked_mean: str = "counted"):
        super().__init__(eps)
        self.ignore = dict(ignore)
        self.masked_mean = _check_masked_mean(masked_mean)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n = target.shape[0]
        valid = counted(target, self.ignore).reshape(n, -1)
        t = torch.where(valid, target.reshape(n, -1), torch.zeros((), dtype=target.dtype, device=target.device))
        diff = ((output.reshape(n, -1) - t) * valid).norm(dim=1)
        ratio = diff / (t.norm(dim=1) + self.eps)
        if self.masked_mean == "all":
            return ratio.mean()
        has = valid.any(dim=1)
        return (ratio * has).sum() / has.sum().clamp(min=1)


LOSSES: dict[str, Callable[..., nn.Module]] = {
    "cross_entropy": _cross_entropy,
    "mse": lambda: nn.MSELoss(),
    "l1": lambda: nn.L1Loss(),
    "bce_logits": _bce_logits,
    "relative_l2": lambda eps=1e-12, reduction="mean": RelativeL2Loss(eps, reduction),
    "rmse": lambda: RMSELoss(),
}

# losses that can skip ignored target entries: name -> builder of the masked module
# (masked_mean: "counted" | "all", see the module docstring)
MASKABLE_LOSSES: dict[str, Callable[..., nn.Module]] = {
    "mse": lambda ignore, masked_mean="counted": MaskedLoss(nn.MSELoss(reduction="none"), ignore, masked_mean),
    "l1": lambda ignore, masked_mean="counted": MaskedLoss(nn.L1Loss(reduction="none"), ignore, masked_mean),
    "bce_logits": lambda ignore, pos_weight=None, masked_mean="counted": MaskedLoss(
        _bce_logits(pos_weight, reduction="none"), ignore, masked_mean),
    "relative_l2": lambda ignore, eps=1e-12, masked_mean="counted": MaskedRelativeL2Loss(ignore, eps, masked_mean),
}


def make_loss(name: str, ignore: dict | None = None, masked_mean: str = "counted", **opts) -> nn.Module:
    """Build the loss module ``name`` with options ``opts`` (see module docstring); ``ignore`` masks targets,
    ``masked_mean`` ("counted" | "all") says how the masked loss averages (checked, but moot, without ``ignore``)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; allowed: {', '.join(sorted(LOSSES))}")
    _check_masked_mean(masked_mean)
    if ignore and name not in MASKABLE_LOSSES:
        raise ValueError(f"loss {name!r} cannot ignore target entries; "
                         f"losses that can: {', '.join(sorted(MASKABLE_LOSSES))}")
    try:
        return MASKABLE_LOSSES[name](ignore, masked_mean=masked_mean, **opts) if ignore else LOSSES[name](**opts)
    except TypeError as e:
        raise ValueError(f"bad options for loss {name!r}: {e}") from None
