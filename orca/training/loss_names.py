"""The losses by name and what each fits: plain data, no torch, read when a task file is checked (and so
when the workflow plans). ``orca.training.losses`` builds the modules; a test keeps the two in step.
"""
from __future__ import annotations

__all__ = ["LOSS_KINDS", "MASKABLE"]

# the output kinds (task file ``output.kind``) each loss fits, checked when a task is loaded:
# cross_entropy takes (N, K) logits and one int class id per sample; bce_logits takes logits and {0, 1} targets
# of the output's shape (multilabel (N, K), or per-position masks); the regression losses take real targets of
# the output's shape (regression (N, K), dense (N, K, ...)). Multilabel outputs are logits that the metrics
# score through a sigmoid, so they train with bce_logits.
LOSS_KINDS: dict[str, tuple[str, ...]] = {
    "cross_entropy": ("classification",),
    "mse": ("regression", "dense"),
    "l1": ("regression", "dense"),
    "bce_logits": ("multilabel", "dense"),
    "relative_l2": ("regression", "dense"),
    "rmse": ("regression", "dense"),
}

#: losses that can skip ignored target entries (``output.ignore``)
MASKABLE = frozenset({"mse", "l1", "bce_logits", "relative_l2"})
