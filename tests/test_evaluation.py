"""Scoring options: per-clip averaging (eval.group_by) and ignored targets (output.ignore)."""
import numpy as np
import pytest

from orca.evaluation import fill_ignored, group_mean, ignore_mask, score
from orca.metrics import get_metric


def test_group_mean_by_hand_in_order_of_first_appearance():
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    s = np.array([[1.0, 2.0], [10.0, 20.0], [3.0, 4.0], [30.0, 40.0]])
    y_g, s_g = group_mean(y, s, np.array([9, 2, 9, 2]))
    np.testing.assert_array_equal(y_g, [[1, 0], [0, 1]])
    np.testing.assert_allclose(s_g, [[2.0, 3.0], [20.0, 30.0]])
    with pytest.raises(ValueError, match="group 2 have different targets"):
        group_mean(np.array([[1], [0], [1], [1]]), s[:, :1], np.array([9, 2, 9, 2]))


def test_clip_level_map_equals_hand_computed():
    # 3 clips, 2 labels; chunk logits averaged per clip, then 1 - macro AP over clips
    y_chunks = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [1, 1]])
    clips = np.array(["a", "a", "b", "b", "b", "c"])
    logits = np.array([[4.0, -2.0], [-2.0, 0.0],      # clip a: mean (1, -1)
                       [0.0, 3.0], [-3.0, 0.0], [0.0, 0.0],  # clip b: mean (-1, 1)
                       [0.5, -3.0]])                  # clip c: mean (0.5, -3)
    # label 0: clip scores a 1, b -1, c 0.5; positives a, c rank 1, 2 -> AP 1
    # label 1: clip scores a -1, b 1, c -3; positives b (rank 1), c (rank 3) -> AP (1/1 + 2/3) / 2 = 5/6
    expected = 1 - (1 + 5 / 6) / 2
    metric = get_metric("one_minus_map")
    assert score(metric, y_chunks, logits, groups=clips) == pytest.approx(expected)
    # per chunk it is a different number: grouping matters
    assert score(metric, y_chunks, logits) != pytest.approx(expected)


def test_score_without_options_is_the_plain_metric():
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 3, 40), rng.normal(size=(40, 3))
    metric = get_metric("zero_one_error_pct")
    assert score(metric, y, s) == metric.fn(y, s)


def test_ignore_mask_and_fill():
    y = np.array([[1.0, np.nan, -1.0, 0.0]])
    np.testing.assert_array_equal(ignore_mask(y, {"nan": True}), [[True, False, True, True]])
    np.testing.assert_array_equal(ignore_mask(y, {"value": -1}), [[True, True, False, True]])
    np.testing.assert_array_equal(ignore_mask(y, {"nan": True, "value": -1}), [[True, False, False, True]])
    assert ignore_mask(y, None) is None and fill_ignored(y, None) is y
    np.testing.assert_array_equal(fill_ignored(y, {"nan": True, "value": -1}), [[1.0, 0.0, 0.0, 0.0]])


def test_masked_scoring_skips_ignored_entries():
    # pixel AUROC: pixels with the ignore value do not count, whatever the prediction there
    y = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    s = np.array([[[[2.0, -2.0], [-2.0, 9.0]]]])
    assert score(get_metric("one_minus_auroc_pixel"), y, s, ignore={"value": -1}) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="cannot skip masked"):
        get_metric("nrmse")(y, s, mask=np.ones(y.shape, bool))
