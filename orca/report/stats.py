"""Confidence intervals and paired comparisons over seeds.

Every interval here is a two-sided 95% Student-t interval over seeds (``scipy.stats.t``):
``mean ± t_{0.975, n-1} · s / sqrt(n)`` with ``s`` the sample standard deviation (ddof=1). One seed
gives no interval (NaN bounds), never a zero-width one.

Paired comparisons pair runs by seed: the same seed selects the same split, initialisation and batch
order in both methods, so the per-seed difference removes the share of the spread the seed causes.
Only seeds both methods ran are used (``n`` in the result); fewer than two shared seeds give no
interval and no verdict.

The verdict is direction-aware: ``"better"`` when the interval of ``method - reference`` lies
entirely on the good side of 0 (below for a loss, above for a higher-is-better score), ``"worse"``
on the other side, ``"tie"`` when it contains 0, ``""`` when there is no interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = ["LEVEL", "INTERVAL_NAME", "Paired", "t_interval", "paired_difference", "verdict"]

LEVEL = 0.95
INTERVAL_NAME = "95% t interval over seeds"


def t_interval(values, level: float = LEVEL) -> tuple[float, float]:
    """(low, high) of the two-sided Student-t interval of the mean of ``values``; (nan, nan) for n < 2."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or np.isnan(v).any():
        raise ValueError(f"t_interval needs a 1-d array of numbers without NaN, got {values!r}")
    n = len(v)
    if n < 2:
        return (math.nan, math.nan)
    half = float(sps.t.ppf(0.5 + level / 2, df=n - 1) * v.std(ddof=1) / math.sqrt(n))
    m = float(v.mean())
    return (m - half, m + half)


@dataclass(frozen=True)
class Paired:
    """Mean and interval of ``method - reference`` over the ``n`` shared seeds, and its verdict."""
    diff: float
    low: float
    high: float
    n: int
    verdict: str


def verdict(low: float, high: float, higher_is_better: bool) -> str:
    """'better' / 'worse' / 'tie' for an interval of ``method - reference``; '' when there is none."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    if low <= 0.0 <= high:
        return "tie"
    above = low > 0.0
    return "better" if above == higher_is_better else "worse"


def paired_difference(method: pd.Series, reference: pd.Series, higher_is_better: bool,
                      level: float = LEVEL) -> Paired:
    """Paired comparison of two per-seed score series (index = seed).

    ``diff`` is the mean over shared seeds of ``method - reference`` (NaN without shared seeds).
    """
    shared = method.index.intersection(reference.index)
    d = (method.loc[shared].astype(float) - reference.loc[shared].astype(float)).to_numpy()
    if len(d) == 0:
        return Paired(math.nan, math.nan, math.nan, 0, "")
    if not np.isfinite(d).all():  # a run scored inf (e.g. MAE8 without a scored pair): no comparison
        return Paired(math.nan, math.nan, math.nan, len(d), "")
    low, high = t_interval(d, level)
    return Paired(float(d.mean()), low, high, len(d), verdict(low, high, higher_is_better))
