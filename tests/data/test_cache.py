import json

import numpy as np
import pytest

import orca.data.core as core
from orca.data import (LOADERS, DataFormatError, DataUnavailableError, TaskData, fetch,
                       load_task_data, prepared_path)

DIGITS = {"name": "digits", "test_size": 0.2}


def test_unknown_loader_lists_allowed(tmp_path):
    with pytest.raises(ValueError) as e:
        load_task_data("csvv", {}, 0, tmp_path)
    for name in ("openml", "ucr", "sklearn_images", "npz"):
        assert name in str(e.value)
    with pytest.raises(ValueError, match="sklearn_images"):
        fetch("csvv", {}, tmp_path)


def test_prepared_cache_used_on_second_call(tmp_path, monkeypatch):
    a = load_task_data("sklearn_images", DIGITS, 0, tmp_path)
    path = prepared_path("sklearn_images", DIGITS, 0, tmp_path)
    assert path.is_file() and path.parent == tmp_path / "prepared"
    assert path.name.startswith("sklearn_images-") and path.name.endswith("-seed0.npz")
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]

    def boom(*_):
        raise AssertionError("loader must not run on a cache hit")

    monkeypatch.setitem(LOADERS, "sklearn_images", boom)
    b = load_task_data("sklearn_images", DIGITS, 0, tmp_path)
    for k in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
        assert getattr(a, k).dtype == getattr(b, k).dtype
    assert a.info == b.info
    with pytest.raises(AssertionError, match="cache hit"):  # other seed -> other file
        load_task_data("sklearn_images", DIGITS, 1, tmp_path)


def test_cache_key_depends_on_args_and_seed(tmp_path):
    p = prepared_path("sklearn_images", DIGITS, 0, tmp_path)
    assert p == prepared_path("sklearn_images", dict(reversed(list(DIGITS.items()))), 0, tmp_path)
    assert p != prepared_path("sklearn_images", {**DIGITS, "test_size": 0.3}, 0, tmp_path)
    assert p != prepared_path("sklearn_images", DIGITS, 1, tmp_path)


def test_corrupt_prepared_file_is_rebuilt(tmp_path):
    load_task_data("sklearn_images", DIGITS, 0, tmp_path)
    path = prepared_path("sklearn_images", DIGITS, 0, tmp_path)
    path.write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match="unreadable"):
        d = load_task_data("sklearn_images", DIGITS, 0, tmp_path)
    assert d.x_train.shape == (1437, 1, 8, 8)
    core.read_prepared(path)  # readable again


def test_taskdata_validates():
    x = np.zeros((3, 1, 4), np.float32)
    with pytest.raises(ValueError):
        TaskData(x, np.zeros(2, np.int64), x, np.zeros(3, np.int64), {})
    with pytest.raises(TypeError):
        TaskData(x, np.zeros(3, np.int64), x, np.zeros(3, np.int64), {"a": np.zeros(1)})


def test_npz_file_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"xa": rng.normal(size=(10, 7)), "ya": rng.integers(0, 3, 10),
              "xb": rng.normal(size=(4, 7)), "yb": np.array([0, 1, 2, 2])}
    np.savez(tmp_path / "user.npz", **arrays)
    args = {"path": "user.npz", "keys": {"x_train": "xa", "y_train": "ya", "x_test": "xb",
                                         "y_test": "yb"}, "info": {"note": "toy"}}
    d = load_task_data("npz", args, 0, tmp_path)
    assert d.x_train.shape == (10, 1, 7) and d.x_train.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.info["num_classes"] == 3 and d.info["note"] == "toy"
    np.testing.assert_allclose(d.x_test[:, 0], arrays["xb"].astype(np.float32))
    json.dumps(d.info)


def test_npz_folder_of_npy_regression(tmp_path):
    folder = tmp_path / "reg"
    folder.mkdir()
    np.save(folder / "x_train.npy", np.ones((5, 2, 3, 3)))
    np.save(folder / "y_train.npy", np.arange(5.0))
    np.save(folder / "x_test.npy", np.ones((2, 2, 3, 3)))
    np.save(folder / "y_test.npy", np.arange(2.0))
    d = load_task_data("npz", {"path": str(folder)}, 0, tmp_path)
    assert d.x_train.shape == (5, 2, 3, 3) and d.y_train.shape == (5, 1)
    assert d.y_train.dtype == np.float32 and "num_classes" not in d.info


def test_npz_missing_and_corrupt(tmp_path):
    with pytest.raises(DataUnavailableError, match="nothere.npz"):
        load_task_data("npz", {"path": "nothere.npz"}, 0, tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="bad.npz"):
        load_task_data("npz", {"path": "bad.npz"}, 0, tmp_path)
    np.savez(tmp_path / "part.npz", x_train=np.zeros((2, 3)))
    with pytest.raises(DataFormatError, match="lacks arrays"):
        load_task_data("npz", {"path": "part.npz"}, 0, tmp_path)


def test_npz_edit_invalidates_prepared(tmp_path):
    def save(v):
        np.savez(tmp_path / "u.npz", x_train=np.full((2, 3), v), y_train=np.array([0, 1]),
                 x_test=np.full((1, 3), v), y_test=np.array([1]))

    save(1.0)
    assert load_task_data("npz", {"path": "u.npz"}, 0, tmp_path).x_test[0, 0, 0] == 1.0
    import os
    import time
    time.sleep(0.01)
    save(2.0)
    os.utime(tmp_path / "u.npz", ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert load_task_data("npz", {"path": "u.npz"}, 0, tmp_path).x_test[0, 0, 0] == 2.0


def test_taskdata_extras_are_checked():
    x = np.zeros((3, 1, 4), np.float32)
    y = np.zeros(3, np.int64)
    TaskData(x, y, x[:2], y[:2], {}, {"clip_ids_train": np.arange(3), "clip_ids_test": np.arange(2)})
    with pytest.raises(ValueError, match="has 2 rows, x_train 3"):
        TaskData(x, y, x, y, {}, {"clip_ids_train": np.arange(2)})
    with pytest.raises(ValueError, match="<name>_train or <name>_test"):
        TaskData(x, y, x, y, {}, {"clip_ids": np.arange(3)})
