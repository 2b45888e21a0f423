import numpy as np
import pytest

from orca.data.loaders.images import load_sklearn_images


def test_digits_shapes_and_range(tmp_path):
    d = load_sklearn_images({"name": "digits"}, 0, tmp_path)
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    allx = np.concatenate([d.x_train, d.x_test])
    assert allx.min() == 0.0 and allx.max() == 1.0
    assert d.info["num_classes"] == 10


def test_digits_stratified_and_seeded(tmp_path):
    a = load_sklearn_images({"name": "digits"}, 0, tmp_path)
    b = load_sklearn_images({"name": "digits"}, 0, tmp_path)
    c = load_sklearn_images({"name": "digits", "test_size": 0.2}, 1, tmp_path)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_test, c.x_test)
    full = np.bincount(np.concatenate([a.y_train, a.y_test]))
    np.testing.assert_allclose(np.bincount(a.y_test), full * 0.2, atol=1.0)


def test_unknown_image_set(tmp_path):
    with pytest.raises(ValueError, match="digits"):
        load_sklearn_images({"name": "faces"}, 0, tmp_path)
