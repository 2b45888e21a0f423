"""Metrics against scikit-learn and against values computed by hand on tiny arrays."""
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, r2_score, roc_auc_score

from orca.evaluation.metrics import METRICS, Metric, get_metric

RNG = np.random.default_rng(0)


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_registry_and_unknown_name():
    assert set(METRICS) == {
        "zero_one_error_pct", "one_minus_auroc", "one_minus_macro_f1", "one_minus_r2", "relative_l2",
        "nrmse", "one_minus_map", "one_minus_auroc_multilabel", "mae8", "one_minus_auroc_pixel",
    }
    for name, m in METRICS.items():
        assert isinstance(m, Metric) and m.name == name and m.higher_is_better is False
    with pytest.raises(ValueError, match="allowed:.*mae8"):
        get_metric("accuracy")


def test_zero_one_error_pct():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [4.0, 0.0, 0.0]])
    y = np.array([0, 1, 0, 2])  # 2 of 4 correct
    assert get_metric("zero_one_error_pct").fn(y, logits) == pytest.approx(50.0)
    y = RNG.integers(0, 5, 200)
    logits = RNG.normal(size=(200, 5))
    expected = 100 * (1 - accuracy_score(y, logits.argmax(1)))
    assert get_metric("zero_one_error_pct").fn(y, logits) == pytest.approx(expected)
    # one-hot labels are accepted
    assert get_metric("zero_one_error_pct").fn(np.eye(5)[y], logits) == pytest.approx(expected)


def test_one_minus_auroc_binary_by_hand_and_sklearn():
    logits = np.array([[0.0, -2.0], [0.0, 1.0], [0.0, -1.0], [0.0, 2.0]])
    y = np.array([0, 0, 1, 1])
    # class-1 score is monotone in the logit gap (-2, 1, -1, 2); positives {-1, 2} vs negatives
    # {-2, 1}: 3 of 4 pairs ordered correctly
    assert get_metric("one_minus_auroc").fn(y, logits) == pytest.approx(1 - 3 / 4)
    y = RNG.integers(0, 2, 100)
    logits = RNG.normal(size=(100, 2)) + y[:, None] * np.array([0, 0.8])
    expected = 1 - roc_auc_score(y, softmax(logits)[:, 1])
    assert get_metric("one_minus_auroc").fn(y, logits) == pytest.approx(expected)


def test_one_minus_auroc_multiclass_ovo():
    y = np.repeat(np.arange(4), 25)
    logits = RNG.normal(size=(100, 4)) + np.eye(4)[y]
    expected = 1 - roc_auc_score(y, softmax(logits), multi_class="ovo")
    got = get_metric("one_minus_auroc").fn(y, logits)
    assert got == pytest.approx(expected)
    assert 0 < got < 0.5


def test_one_minus_macro_f1():
    y = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0])
    logits = np.eye(3)[pred] * 3
    # class0: tp1 fp1 fn1 -> 0.5 ; class1: tp2 fp1 fn0 -> 0.8 ; class2: tp1 fp0 fn1 -> 2/3
    assert get_metric("one_minus_macro_f1").fn(y, logits) == pytest.approx(1 - (0.5 + 0.8 + 2 / 3) / 3)
    y = RNG.integers(0, 4, 300)
    logits = RNG.normal(size=(300, 4)) + np.eye(4)[y]
    expected = 1 - f1_score(y, logits.argmax(1), average="macro")
    assert get_metric("one_minus_macro_f1").fn(y, logits) == pytest.approx(expected)


def test_one_minus_r2():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 2.0, 3.0, 5.0])
    # SSres = 1, SStot = 5 -> R2 = 0.8
    assert get_metric("one_minus_r2").fn(t, p) == pytest.approx(0.2)
    t = RNG.normal(size=(50, 3))
    p = t + RNG.normal(scale=0.3, size=(50, 3))
    assert get_metric("one_minus_r2").fn(t, p) == pytest.approx(1 - r2_score(t, p))


def test_relative_l2_and_nrmse_by_hand():
    t = np.array([[3.0, 4.0], [1.0, 0.0]])  # norms 5, 1
    p = np.array([[3.0, 4.0 + 1.0], [0.0, 0.0]])  # error norms 1, 1
    expected = (1 / 5 + 1 / 1) / 2
    assert get_metric("relative_l2").fn(t, p) == pytest.approx(expected)
    assert get_metric("nrmse").fn(t, p) == pytest.approx(expected)
    # dense (N, C, H, W): per-sample RMSE / RMS(true)
    t = RNG.normal(size=(4, 2, 5, 5)) + 1
    p = t + RNG.normal(scale=0.1, size=t.shape)
    rmse = np.sqrt(((p - t) ** 2).reshape(4, -1).mean(1))
    rms = np.sqrt((t**2).reshape(4, -1).mean(1))
    assert get_metric("nrmse").fn(t, p) == pytest.approx(np.mean(rmse / rms))
    assert get_metric("relative_l2").fn(t, p) == pytest.approx(np.mean(rmse / rms))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_one_minus_map():
    y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    logits = np.array([[2.0, -1, 0], [-1.0, 1, 0], [1.0, -2, 0], [0.5, 0, 0]])
    # label 0: scores (2,-1,1,.5), positives rank 1,2 -> AP 1 ; label 1: scores (-1,1,-2,0),
    # positives are rows 1 (rank 1) and 2 (rank 4) -> AP = (1/1 + 2/4)/2 = 0.75 ; label 2 skipped
    assert get_metric("one_minus_map").fn(y, logits) == pytest.approx(1 - (1 + 0.75) / 2)
    y = RNG.integers(0, 2, (80, 6))
    logits = RNG.normal(size=(80, 6)) + y
    expected = 1 - average_precision_score(y, sigmoid(logits), average="macro")
    assert get_metric("one_minus_map").fn(y, logits) == pytest.approx(expected)


def test_one_minus_auroc_multilabel():
    y = RNG.integers(0, 2, (120, 5))
    logits = RNG.normal(size=(120, 5)) + y
    expected = 1 - np.mean([roc_auc_score(y[:, k], sigmoid(logits[:, k])) for k in range(5)])
    assert get_metric("one_minus_auroc_multilabel").fn(y, logits) == pytest.approx(expected)
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    logits = np.array([[3.0, 0], [1.0, 1], [2.0, 0], [0.0, 2]])
    # target 0 perfectly separated (AUC 1); target 1: positives 1, 2 vs negatives 0, 0 -> AUC 1
    assert get_metric("one_minus_auroc_multilabel").fn(y, logits) == pytest.approx(0.0)


def test_mae8_hand_built_30x30():
    L = 30
    far = 20.0
    t1 = np.full((L, L), far)
    p1 = np.full((L, L), 10.0)

    def setpair(m, i, j, a, b=None):
        m[i, j] = a
        m[j, i] = a if b is None else b

    setpair(t1, 0, 24, 5.0)
    setpair(p1, 0, 24, 6.0, 4.0)  # symmetrised 5 -> error 0 (would be 1 unsymmetrised)
    setpair(t1, 0, 29, 7.0)
    setpair(p1, 0, 29, 9.0)  # error 2
    setpair(t1, 5, 29, 8.0)  # exactly 8 A: kept, as in the NAS-Bench-360 code
    setpair(p1, 5, 29, 7.0, 8.0)  # symmetrised 7.5 -> error 0.5
    setpair(t1, 1, 26, 9.0)  # > 8 A: ignored
    setpair(t1, 2, 10, 4.0)  # separation 8 < 24: ignored
    setpair(t1, 3, 26, 6.0)  # separation 23 < 24: ignored
    np.fill_diagonal(t1, 0.0)  # diagonal has separation 0: ignored
    mae_1 = (0.0 + 2.0 + 0.5) / 3

    t2 = np.full((L, L), far)
    p2 = np.full((L, L), 3.0)
    setpair(t2, 4, 28, 2.0)  # error 1
    mae_2 = 1.0

    t3 = np.full((L, L), far)  # no qualifying pair: skipped in the protein average
    p3 = np.zeros((L, L))

    y_true = np.stack([t1, t2, t3])[:, None]
    y_pred = np.stack([p1, p2, p3])[:, None]
    assert y_true.shape == (3, 1, 30, 30)
    assert get_metric("mae8").fn(y_true, y_pred) == pytest.approx((mae_1 + mae_2) / 2)
    # NaN in the truth (padding) is ignored
    t1n = t1.copy()
    t1n[0, 29] = np.nan
    got = get_metric("mae8").fn(np.stack([t1n])[:, None], np.stack([p1])[:, None])
    assert got == pytest.approx(0.25)
    # a perfect symmetric prediction scores 0
    assert get_metric("mae8").fn(y_true[:2], y_true[:2]) == pytest.approx(0.0)


def test_mae8_skips_masked_pairs():
    L = 26
    t = np.full((1, 1, L, L), 20.0)
    p = np.full((1, 1, L, L), 3.0)
    t[0, 0, 0, 24], t[0, 0, 24, 0] = 5.0, 5.0  # error 2
    t[0, 0, 1, 25], t[0, 0, 25, 1] = 4.0, 4.0  # error 1, masked below
    mask = np.ones(t.shape, dtype=bool)
    mask[0, 0, 1, 25] = False
    assert get_metric("mae8").fn(t, p) == pytest.approx(1.5)
    assert get_metric("mae8")(t, p, mask=mask) == pytest.approx(2.0)
    # the same as marking that pair NaN
    tn = t.copy()
    tn[0, 0, 1, 25] = np.nan
    assert get_metric("mae8").fn(tn, p) == pytest.approx(2.0)


# ----------------------------------------------------------------------------- the released code's MAE8
def _one_pair_maps(upper: float, lower: float, true: float = 5.0, size: int = 30):
    t = np.full((1, 1, size, size), 100.0)  # beyond 8 A: no pair counts but (0, 25)
    t[0, 0, 0, 25] = t[0, 0, 25, 0] = true
    p = np.full((1, 1, size, size), 50.0)
    p[0, 0, 0, 25], p[0, 0, 25, 0] = upper, lower
    return t, p


def test_original_mae8_weights_a_pair_three_quarters_lower_one_quarter_upper():
    from orca.evaluation.metrics import mae8, mae8_original

    t, p = _one_pair_maps(upper=9.0, lower=1.0)
    assert mae8_original(t, p) == pytest.approx(abs(0.75 * 1.0 + 0.25 * 9.0 - 5.0))  # 2.0
    assert mae8(t, p) == pytest.approx(abs(0.5 * 1.0 + 0.5 * 9.0 - 5.0))  # 0.0
    # the 0.01 floor applies to the first average (upper) and to the kept lower entry, before the second one
    t, p = _one_pair_maps(upper=-4.0, lower=2.0)
    assert mae8_original(t, p) == pytest.approx(abs((0.01 + 2.0) / 2 - 5.0))
    assert get_metric("mae8", "original").fn is mae8_original and get_metric("mae8").fn is mae8
    assert get_metric("nrmse", "original") is get_metric("nrmse")


def test_original_mae8_crops_the_nth_map_of_a_chunk_to_the_nth_listed_length():
    from orca.evaluation.metrics import mae8_original

    t, p = _one_pair_maps(upper=7.0, lower=7.0)  # error 2 at (0, 25)
    assert mae8_original(t, p, lengths=[30]) == pytest.approx(2.0)
    assert mae8_original(t, p, lengths=[25]) == float("inf")  # residue 25 is cut: no pair left
    t2, p2 = np.concatenate([t, t]), np.concatenate([p, p])
    assert mae8_original(t2, p2, lengths=[30, 25]) == pytest.approx(2.0)  # only the first map keeps its pair
    with pytest.raises(ValueError, match="1 protein lengths for a chunk of 2"):
        mae8_original(t2, p2, lengths=[30])
