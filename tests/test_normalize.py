"""data.normalize: statistics by hand, channel selection, fixed values, and metrics on the de-normalised scale."""
import numpy as np
import pytest
import torch

from orca.evaluation.metrics import nrmse, relative_l2
from orca.data.normalize import DEFAULT_EPS, fit_normalizer


def fields():
    """(N=3, C=2, H=1, W=2): channel 0 values 1..6, channel 1 constant 5 (a grid-like channel)."""
    x = np.zeros((3, 2, 1, 2), dtype=np.float32)
    x[:, 0, 0] = [[1, 2], [3, 4], [5, 6]]
    x[:, 1] = 5.0
    return x


def test_per_channel_fit_by_hand():
    n = fit_normalizer("fit", fields())
    # channel 0: mean 3.5, unbiased std of 1..6 = sqrt(17.5 / 5) ; channel 1: mean 5, std 0
    assert n.mean.shape == (2, 1, 1)
    np.testing.assert_allclose(n.mean.ravel(), [3.5, 5.0])
    np.testing.assert_allclose(n.scale.ravel(), [np.sqrt(3.5) + DEFAULT_EPS, DEFAULT_EPS], rtol=1e-6)
    z = n.encode(fields())
    np.testing.assert_allclose(z[:, 0].ravel(), (np.arange(1, 7) - 3.5) / (np.sqrt(3.5) + DEFAULT_EPS), rtol=1e-6)
    np.testing.assert_allclose(n.decode(z), fields(), atol=1e-5)


def test_element_fit_on_chosen_channels_only():
    n = fit_normalizer({"fit": "element", "channels": [0], "eps": 0.0}, fields())
    # per position over the 3 samples: position 0 -> 1, 3, 5 (mean 3, std 2); position 1 -> 2, 4, 6 (mean 4, std 2)
    assert n.mean.shape == (2, 1, 2)
    np.testing.assert_allclose(n.mean[0, 0], [3.0, 4.0])
    np.testing.assert_allclose(n.scale[0, 0], [2.0, 2.0])
    # channel 1 is not chosen: it passes through unchanged (a constant channel would otherwise become 0)
    np.testing.assert_array_equal(n.mean[1], 0.0)
    np.testing.assert_array_equal(n.scale[1], 1.0)
    np.testing.assert_array_equal(n.encode(fields())[:, 1], 5.0)


def test_fixed_mean_std_per_channel_and_broadcast():
    x = np.ones((2, 3, 2, 2), dtype=np.float32)
    n = fit_normalizer({"mean": [0.5, 0.25, 0.0], "std": [0.5, 0.25, 2.0]}, x)
    np.testing.assert_allclose(n.encode(x)[0, :, 0, 0], [1.0, 3.0, 0.5])
    one = fit_normalizer({"mean": [1.0], "std": [2.0]}, x)
    np.testing.assert_allclose(one.encode(x), 0.0)
    with pytest.raises(ValueError, match="2 means/stds for data with 3 channels"):
        fit_normalizer({"mean": [0.1, 0.2], "std": [1.0, 1.0]}, x)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"channels \[3\] do not exist"):
        fit_normalizer({"fit": "channel", "channels": [3]}, fields())
    with pytest.raises(ValueError, match="too few training values"):
        fit_normalizer({"fit": "element"}, fields()[:1])
    with pytest.raises(ValueError, match="a normalisation must be"):
        fit_normalizer("zscore", fields())


def test_ignored_targets_do_not_enter_the_fit():
    y = np.array([[1.0], [3.0], [np.nan], [100.0]], dtype=np.float32)
    valid = np.array([[True], [True], [False], [False]])
    n = fit_normalizer({"fit": "channel", "eps": 0.0}, y, valid)
    assert n.mean.ravel()[0] == pytest.approx(2.0) and n.scale.ravel()[0] == pytest.approx(np.sqrt(2.0))


def test_regression_targets_n_by_k():
    y = np.array([[0.0, 10.0], [2.0, 30.0]], dtype=np.float32)
    n = fit_normalizer("fit", y)
    np.testing.assert_allclose(n.mean, [1.0, 20.0])
    np.testing.assert_allclose(n.decode(n.encode(y)), y, atol=1e-4)


def test_metric_on_decoded_predictions_equals_metric_on_raw_scale():
    rng = np.random.default_rng(0)
    y_train = rng.normal(3.0, 2.0, size=(20, 1, 4, 4)).astype(np.float32)
    y_test = rng.normal(3.0, 2.0, size=(5, 1, 4, 4)).astype(np.float32)
    pred_raw = y_test + rng.normal(0, 0.3, size=y_test.shape).astype(np.float32)
    n = fit_normalizer({"fit": "element"}, y_train)
    pred_normalised = n.encode(pred_raw)  # what a model trained on standardised targets outputs
    decoded = n.torch_decoder("cpu")(torch.from_numpy(pred_normalised)).numpy()
    assert relative_l2(y_test, decoded) == pytest.approx(relative_l2(y_test, pred_raw), rel=1e-5)
    assert nrmse(y_test, n.decode(pred_normalised)) == pytest.approx(nrmse(y_test, pred_raw), rel=1e-5)
    # the normalised scale gives another number: scoring must happen after decoding
    assert relative_l2(y_test, pred_normalised) != pytest.approx(relative_l2(y_test, pred_raw), rel=1e-2)
