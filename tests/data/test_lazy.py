"""Out-of-core inputs (data.args.lazy_inputs): LazyRows indexing, the loader and cache, and align / refine
giving the same numbers as with the same inputs in memory while reading one batch of rows at a time."""
import copy
import hashlib

import h5py
import numpy as np
import pytest

from orca.data import load_task_data
from orca.data.loaders import lazy as lazy_mod
from orca.data.loaders.lazy import LazyRows
from orca.spec.tasks import TaskError


@pytest.fixture
def h5_rows(tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 2, 3, 3)).astype(np.float32)
    path = tmp_path / "rows.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, chunks=(1, 2, 3, 3))
        f.create_dataset("x64", data=x.astype(np.float64))
    return path, x


@pytest.mark.parametrize("idx", [0, 7, -1, slice(None), slice(2, 6), slice(None, None, 3), slice(8, 2, -2),
                                 [5, 1, 3], [4, 4, 0, 4], np.array([9, 0, 9, 2]), np.array([], dtype=int)])
def test_lazy_rows_indexing_matches_numpy(h5_rows, idx):
    path, x = h5_rows
    got = LazyRows(path, "x")[idx]
    want = x[idx]
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_lazy_rows_views_shape_and_float32(h5_rows):
    path, x = h5_rows
    lr = LazyRows(path, "x64")
    assert lr.shape == x.shape and lr.ndim == 4 and len(lr) == 10 and lr.dtype == np.float32
    view = lr.rows(np.array([8, 1, 5, 3, 0]))
    vv = view.rows([4, 2, 2])
    np.testing.assert_array_equal(view[:], x[[8, 1, 5, 3, 0]])
    np.testing.assert_array_equal(vv[[2, 0]], x[[5, 0]])
    assert vv.shape == (3, 2, 3, 3) and vv[1].dtype == np.float32
    np.testing.assert_array_equal(lr.rows(slice(2, 5))[1], x[3])


def test_lazy_rows_refuse_whole_array_and_bad_indices(h5_rows):
    path, _ = h5_rows
    lr = LazyRows(path, "x")
    with pytest.raises(TypeError, match="out-of-core"):
        np.asarray(lr)
    with pytest.raises(TypeError):
        lr[np.ones(10, bool)]
    with pytest.raises(KeyError, match="no dataset"):
        LazyRows(path, "nope")
    with pytest.raises(IndexError):
        LazyRows(path, "x", [0, 10])


def test_lazy_rows_blocks_finiteness_and_hash(h5_rows, monkeypatch):
    path, x = h5_rows
    monkeypatch.setattr(lazy_mod, "BLOCK_BYTES", 3 * x[0].nbytes)
    view = LazyRows(path, "x").rows([9, 3, 3, 1, 0])
    assert [len(b) for b in view.blocks()] == [3, 2] and view.all_finite()
    h1, h2 = hashlib.sha256(), hashlib.sha256()
    view.update_hash(h1)
    eager = np.ascontiguousarray(x[[9, 3, 3, 1, 0]])
    h2.update(f"{eager.dtype}{eager.shape}".encode())
    h2.update(eager.tobytes())
    assert h1.hexdigest() == h2.hexdigest()
    with h5py.File(path, "a") as f:
        f["x"][3, 0, 0, 0] = np.nan
    assert not view.all_finite()


# ----------------------------------------------------------------------------- tasks
def _maps(n=12, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1, 28, 28)).astype(np.float32)
    y = (5 + 3 * np.abs(x)).astype(np.float32)
    y[:, :, :3] = np.nan  # PSICOV-like missing distances
    return {"x_train": x[:9], "y_train": y[:9], "x_test": x[9:], "y_test": y[9:]}


OVERRIDES = {"input": {"modality": "2d"}, "output": {"ignore": {"nan": True}}, "loss": {"name": "mse"},
             "metric": "mae8", "embedder": {"patch_size": 4, "image_size": 56},
             "data": {"normalize": {"targets": "fit"}},
             "align": {"epochs": 2, "maxsamples": 3, "pseudo_labels": 2},
             "refine": {"epochs": 2, "batch_size": 2, "eval_batch_size": 3}}


@pytest.fixture
def pair(toy_task, tmp_path):
    """(eager task, lazy task) over the same maps: .npz in memory vs. .h5 read with lazy_inputs."""
    arrays = _maps()
    with h5py.File(tmp_path / "maps.h5", "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    eager = toy_task(arrays, OVERRIDES, name="eager")
    lazy_args = {"x_train": {"file": "maps.h5", "key": "x_train"}, "x_test": {"file": "maps.h5", "key": "x_test"},
                 "lazy_inputs": True}
    lazy = toy_task(arrays, {**OVERRIDES, "data": {**OVERRIDES["data"], "args": lazy_args}}, name="lazy")
    return eager, lazy


class ReadLog:
    """Records the size of every LazyRows read (rows)."""

    def __init__(self, monkeypatch):
        self.sizes = []
        orig = LazyRows._read

        def read(lr, rows):
            self.sizes.append(len(rows))
            return orig(lr, rows)

        monkeypatch.setattr(LazyRows, "_read", read)


def test_loader_and_cache_keep_inputs_on_disk(pair, tmp_path):
    _, lazy = pair
    args = lazy.spec["data"]["args"]
    first = load_task_data("arrays", args, 0, tmp_path / "data")
    again = load_task_data("arrays", args, 0, tmp_path / "data")  # from the prepared cache
    for d in (first, again):
        assert isinstance(d.x_train, LazyRows) and isinstance(d.x_test, LazyRows)
        assert d.x_train.shape == (9, 1, 28, 28) and isinstance(d.y_train, np.ndarray)
    np.testing.assert_array_equal(again.x_test[:], _maps()["x_test"])
    np.testing.assert_array_equal(again.y_train, first.y_train)


def test_lazy_split_matches_eager_split(pair, tmp_path):
    from orca.data.taskdata import prepare_split

    eager, lazy = pair
    e, z = prepare_split(eager, 0, tmp_path / "data"), prepare_split(lazy, 0, tmp_path / "data")
    assert isinstance(z.x_train, LazyRows) and isinstance(z.x_val, LazyRows)
    for k in ("x_train", "x_val", "x_test"):
        np.testing.assert_array_equal(getattr(z, k)[:], getattr(e, k))
    assert z.checksum() == e.checksum()


def test_refine_lazy_equals_eager_and_reads_one_batch(pair, tiny_image_body, tmp_path, monkeypatch):
    from tests.stage_jobs import run_refine

    eager, lazy = pair
    monkeypatch.setattr(lazy_mod, "BLOCK_BYTES", 1)  # checks and checksum: one row per read
    recs = {}
    for name, task in (("eager", eager), ("lazy", lazy)):
        log = ReadLog(monkeypatch) if name == "lazy" else None
        recs[name] = run_refine(task, "swin-base", "none", 0, tmp_path / f"{name}.json", tmp_path / "data",
                                body=copy.deepcopy(tiny_image_body), log=lambda *_: None)
    assert recs["lazy"]["scores"] == recs["eager"]["scores"]
    assert recs["lazy"]["history"] == recs["eager"]["history"]
    assert recs["lazy"]["data_sha256"] == recs["eager"]["data_sha256"]
    assert log.sizes and max(log.sizes) <= max(OVERRIDES["refine"]["batch_size"], OVERRIDES["refine"]["eval_batch_size"])
    assert 2 in log.sizes  # training batches


def test_align_lazy_equals_eager_and_reads_sampled_rows(pair, tiny_image_body, tmp_path, monkeypatch):
    from tests.stage_jobs import run_align
    from orca.stages.sources import save_source

    eager, lazy = pair
    rng = np.random.default_rng(0)
    save_source({"xs": rng.normal(size=(40, tiny_image_body.width)).astype(np.float32),
                 "ys": rng.integers(0, 3, 40), "origin": "test"}, tmp_path / "src.npz")
    monkeypatch.setattr(lazy_mod, "BLOCK_BYTES", 1)
    recs = {}
    for name, task in (("eager", eager), ("lazy", lazy)):
        log = ReadLog(monkeypatch) if name == "lazy" else None
        recs[name] = run_align(task, "swin-base", "l2", 0, tmp_path / "src.npz", tmp_path / name, tmp_path / "data",
                               body=copy.deepcopy(tiny_image_body), log=lambda *_: None)
    assert recs["lazy"]["distance_per_epoch"] == recs["eager"]["distance_per_epoch"]
    from orca.stages.align import class_sample_count  # ORCA's count: batches until more than maxsamples

    most = class_sample_count(10**6, OVERRIDES["refine"]["batch_size"], OVERRIDES["align"]["maxsamples"])
    assert max(log.sizes) <= most


def test_lazy_inputs_refuse_input_normalisation_and_transforms(toy_task, tmp_path):
    arrays = _maps()
    with h5py.File(tmp_path / "maps.h5", "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
    args = {"x_train": {"file": "maps.h5", "key": "x_train"}, "x_test": {"file": "maps.h5", "key": "x_test"},
            "lazy_inputs": True}
    with pytest.raises(TaskError, match="lazy_inputs"):
        toy_task(arrays, {**OVERRIDES, "data": {"args": args, "normalize": {"inputs": "fit"}}}, name="norm")
    bad = {**args, "x_train": {"file": "maps.h5", "key": "x_train", "transpose": [1, 0, 2, 3]}}
    task = toy_task(arrays, {**OVERRIDES, "data": {"args": bad}}, name="transposed")
    with pytest.raises(ValueError, match="args.x_train a batch of rows at a time, so axis 0 must stay"):
        load_task_data("arrays", task.spec["data"]["args"], 0, tmp_path / "data")
