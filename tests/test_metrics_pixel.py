import numpy as np
import pytest

from orca.evaluation.metrics import METRICS, one_minus_auroc_pixel


def test_pixel_auroc_ignores_masked_pixels():
    y = np.array([[[[1, 0], [0, -1]]], [[[0, 1], [1, 0]]]], dtype=np.float32)  # (2, 1, 2, 2), -1 ignored
    perfect = np.where(y == 1, 3.0, -3.0)
    perfect[0, 0, 1, 1] = 5.0  # a wrong score on the ignored pixel does not count
    assert METRICS["one_minus_auroc_pixel"].fn(y, perfect) == pytest.approx(0.0)
    # hard predictions: all positive -> TPR 1, TNR 0 -> AUROC 0.5
    assert one_minus_auroc_pixel(y, np.ones_like(y)) == pytest.approx(0.5)
    # soft scores when binarize=False
    assert one_minus_auroc_pixel(y, -perfect, binarize=False) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive and negative"):
        one_minus_auroc_pixel(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)))


def test_pixel_auroc_skips_masked_pixels():
    y = np.array([[[[1.0, 0.0], [0.0, 1.0]]]])
    s = np.array([[[[2.0, -2.0], [3.0, 2.0]]]])  # pixel (1, 0) is a false positive
    assert one_minus_auroc_pixel(y, s) == pytest.approx(0.25)  # TPR 1, TNR 1/2
    mask = np.array([[[[True, True], [False, True]]]])
    assert METRICS["one_minus_auroc_pixel"](y, s, mask=mask) == pytest.approx(0.0)


def test_original_cosmic_auroc_counts_ignored_pixels_as_true_negatives():
    from orca.evaluation.scoring import score
    from orca.evaluation.metrics import get_metric

    y = np.array([1, 1, 0, 0, -1, -1, -1, -1], dtype=np.float32).reshape(1, 1, 2, 4)
    logits = np.array([1, -1, 1, -1, 1, 1, 1, 1], dtype=np.float32).reshape(1, 1, 2, 4)  # ignored: predicted 1
    ignore = {"value": -1}
    # clean: the 4 counted pixels only: TPR 1/2, TNR 1/2 -> AUROC of the hard prediction 1/2
    assert score(get_metric("one_minus_auroc_pixel"), y, logits, ignore=ignore) == pytest.approx(0.5)
    # original: ignored pixels zeroed in output (logit 0 -> negative) and target -> 4 more true negatives:
    # TPR 1/2, TNR 5/6, AUROC (1/2 + 5/6) / 2
    original = score(get_metric("one_minus_auroc_pixel", "original"), y, logits, ignore=ignore)
    assert original == pytest.approx(1 - (0.5 + 5 / 6) / 2)
