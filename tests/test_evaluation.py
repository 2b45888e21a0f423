"""Scoring options: per-clip averaging (eval.group_by) and ignored targets (output.ignore)."""
import numpy as np
import pytest

from orca.data.targets import fill_ignored, ignore_mask
from orca.evaluation.scoring import group_mean, score
from orca.evaluation.metrics import get_metric


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


# ----------------------------------------------------------------------------- protocols: chunked evaluation
def test_chunks_accumulate_loader_batches_until_eval_batch_size():
    from orca.evaluation.scoring import chunk_bounds

    # loader batches of 3; a chunk closes once it holds >= 4 samples, i.e. after 2 batches; the rest is the last
    assert chunk_bounds(10, 3, 4) == [(0, 6), (6, 10)]
    assert chunk_bounds(5, 1, 1) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert chunk_bounds(7, 4, 1000) == [(0, 7)]
    with pytest.raises(ValueError, match="eval_batch_size >= 1"):
        chunk_bounds(7, 4, 0)


def test_chunked_score_is_the_mean_over_chunks_not_the_whole_set_metric():
    from orca.evaluation.scoring import chunked_score

    metric = get_metric("zero_one_error_pct")
    y = np.zeros(10, dtype=np.int64)
    logits = np.zeros((10, 2))
    logits[:6, 1] = 1.0  # chunk 1 (6 samples) all wrong, chunk 2 (4 samples) all right
    assert score(metric, y, logits) == pytest.approx(60.0)
    assert chunked_score(metric, y, logits, loader_batch=3, eval_batch_size=4) == pytest.approx((100.0 + 0.0) / 2)


def _opts(batch_size, eval_batch_size, **extra):
    return {"batch_size": batch_size, "eval_batch_size": eval_batch_size, **extra}


def test_make_scorer_clean_scores_the_whole_set_and_original_the_chunks():
    from orca.evaluation.scoring import make_scorer

    rng = np.random.default_rng(0)
    y = rng.normal(size=(10, 1, 4)) + 3
    pred = y + rng.normal(size=y.shape) * np.linspace(0.1, 2.0, 10)[:, None, None]
    metric = get_metric("nrmse")
    opts = _opts(batch_size=2, eval_batch_size=3)  # chunks of 4, 4 and 2 samples
    whole = make_scorer("nrmse", "clean", **opts)(y, pred)
    chunked = make_scorer("nrmse", "original", **opts)(y, pred)
    assert whole == pytest.approx(metric.fn(y, pred))
    by_hand = np.mean([metric.fn(y[a:b], pred[a:b]) for a, b in [(0, 4), (4, 8), (8, 10)]])
    assert chunked == pytest.approx(by_hand) and abs(chunked - whole) > 1e-3
    # grouped scoring (FSD50K clips) is one whole-set score under both protocols, as in the original
    groups = np.repeat(np.arange(5), 2)
    y_g = np.repeat(y[::2], 2, axis=0)  # every sample of a group carries its group's target
    assert make_scorer("nrmse", "original", **opts)(y_g, pred, groups) == pytest.approx(metric.fn(*group_mean(y_g, pred, groups)))


def test_make_scorer_original_crops_psicov_chunks_to_the_first_listed_protein():
    from orca.evaluation.scoring import make_scorer

    # two 40 x 40 maps, padded by offset 2; the test list's proteins have 28 and 38 residues
    t = np.full((2, 1, 40, 40), 100.0)
    p = np.full((2, 1, 40, 40), 100.0)
    t[0, 0, 2, 27] = t[0, 0, 27, 2] = 5.0
    p[0, 0, 2, 27] = p[0, 0, 27, 2] = 6.0  # protein 1: error 1
    t[1, 0, 3, 28] = t[1, 0, 28, 3] = 4.0
    p[1, 0, 3, 28] = p[1, 0, 28, 3] = 4.5  # protein 2, inside the first protein's length: error 0.5
    t[1, 0, 4, 36] = t[1, 0, 36, 4] = 6.0
    p[1, 0, 4, 36] = p[1, 0, 36, 4] = 9.0  # protein 2, beyond residue 28: error 3
    opts = _opts(1, 1, ignore={"nan": True}, original_crop={"lengths": "length", "offset": 2})
    lengths = np.array([28, 38])
    # original: one-protein chunks, each cropped to the first protein's 28 residues: mean(1, 0.5)
    assert make_scorer("mae8", "original", **opts, crop_lengths=lengths)(t, p) == pytest.approx(0.75)
    # clean: whole proteins, mean over proteins of mean over pairs: mean(1, mean(0.5, 3))
    assert make_scorer("mae8", "clean", **opts, crop_lengths=lengths)(t, p) == pytest.approx((1 + 1.75) / 2)
    with pytest.raises(ValueError, match="length_test"):
        make_scorer("mae8", "original", **opts)
