"""Target entries a task ignores (``output.ignore``): which count, and the targets with the others filled.

``output.ignore`` = ``{nan: true}`` and/or ``{value: -1}``: target entries that are NaN / equal to the value are
missing (PSICOV's unknown distances, Cosmic's ignore map); they enter neither the loss nor the metric. Data
preparation (normalisation, checks), align's pseudo-labels and scoring all read them from here.
"""
from __future__ import annotations

import numpy as np

__all__ = ["fill_ignored", "ignore_mask"]


def ignore_mask(y: np.ndarray, ignore: dict | None) -> np.ndarray | None:
    """Bool array of ``y``'s shape, True where a target entry counts; None when nothing is ignored."""
    if not ignore:
        return None
    y = np.asarray(y)
    valid = np.ones(y.shape, dtype=bool)
    if ignore.get("nan") and np.issubdtype(y.dtype, np.floating):
        valid &= ~np.isnan(y)
    if ignore.get("value") is not None:
        valid &= y != ignore["value"]
    return valid


def fill_ignored(y: np.ndarray, ignore: dict | None, fill: float = 0.0) -> np.ndarray:
    """``y`` with ignored entries set to ``fill`` (``y`` itself when nothing is ignored)."""
    valid = ignore_mask(y, ignore)
    return y if valid is None else np.where(valid, y, np.asarray(fill, dtype=np.asarray(y).dtype))
