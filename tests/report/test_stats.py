"""t intervals and paired comparisons (orca/report/stats.py), checked against hand-computed values."""
import math

import numpy as np
import pandas as pd
import pytest

from orca.report.stats import paired_difference, t_interval, verdict

T_975_DF2 = 4.302652729911275  # Student t quantile, 0.975, 2 degrees of freedom (tables)


def test_t_interval_matches_the_formula():
    low, high = t_interval([0.01, 0.02, 0.03])
    half = T_975_DF2 * 0.01 / math.sqrt(3)
    assert low == pytest.approx(0.02 - half) and high == pytest.approx(0.02 + half)


def test_one_seed_has_no_interval_and_nan_is_refused():
    assert all(math.isnan(v) for v in t_interval([0.5]))
    with pytest.raises(ValueError, match="without NaN"):
        t_interval([0.1, float("nan")])


@pytest.mark.parametrize("low,high,hib,want", [
    (-0.2, -0.1, False, "better"), (-0.2, -0.1, True, "worse"), (0.1, 0.2, True, "better"),
    (0.1, 0.2, False, "worse"), (-0.1, 0.1, False, "tie"), (math.nan, math.nan, False, ""),
])
def test_verdict_is_direction_aware(low, high, hib, want):
    assert verdict(low, high, hib) == want


def test_paired_difference_uses_shared_seeds_only():
    method = pd.Series([0.10, 0.12, 0.11, 0.50], index=[0, 1, 2, 7])
    ref = pd.Series([0.20, 0.23, 0.20], index=[0, 1, 2])
    p = paired_difference(method, ref, higher_is_better=False)
    d = np.array([-0.10, -0.11, -0.09])
    half = T_975_DF2 * d.std(ddof=1) / math.sqrt(3)
    assert p.n == 3 and p.diff == pytest.approx(d.mean())
    assert (p.low, p.high) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert p.verdict == "better"


def test_pairing_removes_the_seed_effect():
    """A constant gain hidden under a large seed effect: unpaired intervals overlap, the paired one does not."""
    seed_effect = np.array([0.0, 0.3, -0.2, 0.1])
    ref = pd.Series(0.5 + seed_effect)
    method = pd.Series(0.45 + seed_effect + np.array([0.001, -0.001, 0.0, 0.002]))
    lo_m, hi_m = t_interval(method.to_numpy())
    lo_r, hi_r = t_interval(ref.to_numpy())
    assert lo_r < hi_m and lo_m < hi_r  # overlap
    assert paired_difference(method, ref, higher_is_better=False).verdict == "better"


def test_no_shared_seed_gives_nothing():
    p = paired_difference(pd.Series([0.1], index=[0]), pd.Series([0.2], index=[1]), False)
    assert p.n == 0 and math.isnan(p.diff) and p.verdict == ""


def test_paired_difference_with_an_infinite_score_is_undefined_not_an_error():
    """Found by the rehearsal: a run scored inf (MAE8 without a scored pair) made every table report fail."""
    p = paired_difference(pd.Series([math.inf], index=[0]), pd.Series([math.inf], index=[0]), higher_is_better=False)
    assert p.n == 1 and math.isnan(p.diff) and p.verdict == ""
