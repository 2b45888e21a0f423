"""Out-of-core inputs beyond HDF5 (data.args.lazy_inputs): npz members (stored: mapped in place; deflated:
decompressed once to <data_dir>/lazy), plain .npy, formats read whole once (pickled dicts, tar members), the
spec's slice / reshape / transpose and args.x applied per batch, the prepared cache, pdebench_hdf5's lazy
inputs, and refine on a lazy npz split giving the eager numbers."""
import copy
import io
import pickle
import tarfile

import h5py
import numpy as np
import pytest

from orca.data import DataFormatError, load_task_data
from orca.data.loaders import lazy as lazy_mod
from orca.data.loaders.lazy import LazyRows, NpySource, source_from_json


def _eager_and_lazy(args: dict, data_dir):
    """The same arrays args loaded in memory and with lazy_inputs (separate prepared caches)."""
    eager = load_task_data("arrays", args, 0, data_dir / "eager")
    lazy = load_task_data("arrays", {**args, "lazy_inputs": True}, 0, data_dir / "lazy")
    return eager, lazy


def _assert_same(eager, lazy):
    for k in ("x_train", "x_test"):
        x = getattr(lazy, k)
        assert isinstance(x, LazyRows) and x.shape == getattr(eager, k).shape
        got = x[:]
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, getattr(eager, k))
    for k in ("y_train", "y_test"):
        np.testing.assert_array_equal(getattr(lazy, k), getattr(eager, k))
        assert getattr(lazy, k).dtype == getattr(eager, k).dtype


def _deepsea_like(tmp_path, compressed: bool, dtype=np.float64):
    rng = np.random.default_rng(0)
    z = {"x_train": rng.integers(0, 2, (11, 20, 4)).astype(dtype), "y_train": rng.integers(0, 2, (11, 3)),
         "x_val": rng.integers(0, 2, (4, 20, 4)).astype(dtype), "y_val": rng.integers(0, 2, (4, 3)),
         "x_test": rng.normal(size=(6, 20, 4)).astype(dtype), "y_test": rng.integers(0, 2, (6, 3))}
    (np.savez_compressed if compressed else np.savez)(tmp_path / "deepsea_filtered.npz", **z)

    def spec(k):
        return {"file": "deepsea_filtered.npz", "key": k, **({"transpose": [0, 2, 1]} if k[0] == "x" else {})}

    return {"root": str(tmp_path), **{k: spec(k) for k in z}, "y": {"dtype": "float32"}}, z


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_members_lazy_equal_eager_with_transpose_val_and_cast(tmp_path, compressed):
    args, z = _deepsea_like(tmp_path, compressed)
    eager, lazy = _eager_and_lazy(args, tmp_path / "data")
    _assert_same(eager, lazy)
    assert lazy.x_train.shape == (15, 4, 20)  # x_val joined, transposed
    copies = sorted((tmp_path / "data" / "lazy" / "lazy").glob("*.npy"))
    # stored members are mapped inside the npz; deflated ones decompressed once (x_train, x_val, x_test)
    assert len(copies) == (3 if compressed else 0)
    again = load_task_data("arrays", {**args, "lazy_inputs": True}, 0, tmp_path / "data" / "lazy")  # prepared cache
    _assert_same(eager, again)


def test_lazy_rows_read_only_the_rows_asked_for(tmp_path, monkeypatch):
    args, _ = _deepsea_like(tmp_path, compressed=False)
    lazy = load_task_data("arrays", {**args, "lazy_inputs": True}, 0, tmp_path / "data")
    reads = []
    orig = NpySource.read

    def read(src, rows):
        reads.append(rows.tolist())
        return orig(src, rows)

    monkeypatch.setattr(NpySource, "read", read)
    lazy.x_train[[13, 2, 2, 5]]  # rows 13 and 14 are x_val's 2 and 3
    lazy.x_test[1:3]
    assert reads == [[2, 5], [2], [1, 2]]


def test_whole_array_conversion_is_refused(tmp_path):
    args, _ = _deepsea_like(tmp_path, compressed=True)
    lazy = load_task_data("arrays", {**args, "lazy_inputs": True}, 0, tmp_path / "data")
    for convert in (np.asarray, np.array, lambda a: np.concatenate([a])):
        with pytest.raises(TypeError, match="out-of-core"):
            convert(lazy.x_train)


def test_float64_beyond_float32_is_refused_per_batch(tmp_path):
    args, z = _deepsea_like(tmp_path, compressed=False)
    z["x_test"][2, 0, 0] = 1e300
    np.savez(tmp_path / "deepsea_filtered.npz", **z)
    lazy = load_task_data("arrays", {**args, "lazy_inputs": True}, 0, tmp_path / "data")
    np.testing.assert_array_equal(lazy.x_test[:2], z["x_test"][:2].transpose(0, 2, 1).astype(np.float32))
    with pytest.raises(DataFormatError, match="float32 range"):
        lazy.x_test[2]


def _cifar_like(tmp_path, n=10, n_test=4):
    rng = np.random.default_rng(1)
    parts = {"train": rng.integers(0, 256, (n, 3 * 8 * 8), dtype=np.uint8),
             "test": rng.integers(0, 256, (n_test, 3 * 8 * 8), dtype=np.uint8)}
    with tarfile.open(tmp_path / "cifar.tar.gz", "w:gz") as tar:
        for name, data in parts.items():
            blob = pickle.dumps({"data": data, "fine_labels": list(range(len(data)))}, protocol=2)
            info = tarfile.TarInfo(f"cifar/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))

    def spec(part, key):
        return {"file": f"cifar.tar.gz::cifar/{part}", "format": "pickle", "key": key, "encoding": "latin1",
                **({"reshape": [-1, 3, 8, 8]} if key == "data" else {})}

    return {"root": str(tmp_path), "allow_pickle": True, "x": {"scale": 1 / 255},
            "x_train": spec("train", "data"), "y_train": spec("train", "fine_labels"),
            "x_test": spec("test", "data"), "y_test": spec("test", "fine_labels")}


def test_tar_pickle_members_converted_once_reshaped_and_scaled_per_batch(tmp_path, monkeypatch):
    args = _cifar_like(tmp_path)
    eager, lazy = _eager_and_lazy(args, tmp_path / "data")
    _assert_same(eager, lazy)
    assert lazy.x_train.shape == (10, 3, 8, 8)
    copies = list((tmp_path / "data" / "lazy" / "lazy").glob("*.npy"))
    assert len(copies) == 2 and all(np.load(c, mmap_mode="r").dtype == np.uint8 for c in copies)  # as stored
    from orca.data.loaders import lazy_files

    def never(*_a, **_k):
        raise AssertionError("the converted copy should be reused")

    monkeypatch.setattr(lazy_files, "read_array", never)
    (tmp_path / "data" / "lazy" / "prepared").rename(tmp_path / "old-prepared")  # the loader runs again
    _assert_same(eager, load_task_data("arrays", {**args, "lazy_inputs": True}, 0, tmp_path / "data" / "lazy"))


def test_pickled_dict_npy_and_plain_npy_with_slices(tmp_path):
    rng = np.random.default_rng(2)
    for s, n in (("train", 12), ("test", 5)):
        np.save(tmp_path / f"sat_{s}.npy", {"data": rng.normal(size=(n, 9)), "label": rng.integers(1, 4, n)},
                allow_pickle=True)
    args = {"root": str(tmp_path), "allow_pickle": True, "y": {"offset": -1},
            **{f"{v}_{s}": {"file": f"sat_{s}.npy", "key": k} for s in ("train", "test")
               for v, k in (("x", "data"), ("y", "label"))}}
    eager, lazy = _eager_and_lazy(args, tmp_path / "data")
    _assert_same(eager, lazy)
    assert lazy.x_train.shape == (12, 1, 9)  # (N, L) gains the channel axis, as in memory
    np.save(tmp_path / "maps.npy", rng.normal(size=(9, 10, 10)).astype(np.float32))
    np.save(tmp_path / "maps_y.npy", rng.normal(size=(9, 1)).astype(np.float32))
    grid = {"root": str(tmp_path), "x": {"add_channel_axis": True, "append_grid": True},
            "x_train": {"file": "maps.npy", "slice": "1:8, ::2, 1::3"}, "y_train": {"file": "maps_y.npy", "slice": "1:8"},
            "x_test": {"file": "maps.npy", "slice": "8:0:-3, ::2, 1::3"}, "y_test": {"file": "maps_y.npy", "slice": "8:0:-3"}}
    eager, lazy = _eager_and_lazy(grid, tmp_path / "grid")
    _assert_same(eager, lazy)
    assert lazy.x_train.shape == (7, 3, 5, 3) and lazy.x_test.shape == (3, 3, 5, 3)
    assert type(lazy.x_train.source).__name__ == "MappedSource"  # a row range and per-batch steps


def test_lazy_specs_that_cannot_be_read_a_batch_at_a_time_are_refused(tmp_path):
    args, _ = _deepsea_like(tmp_path, compressed=False)
    lazy = {**args, "lazy_inputs": True}
    with pytest.raises(ValueError, match="must start with a range of rows"):
        load_task_data("arrays", {**lazy, "x_test": {**args["x_test"], "slice": "0, :"}}, 0, tmp_path / "d1")
    with pytest.raises(ValueError, match="transpose .* must start with 0"):
        load_task_data("arrays", {**lazy, "x_test": {**args["x_test"], "transpose": [1, 0, 2]}}, 0, tmp_path / "d2")
    with pytest.raises(DataFormatError, match="reshape .* must keep the 6 samples"):
        load_task_data("arrays", {**lazy, "x_test": {"file": "deepsea_filtered.npz", "key": "x_test",
                                                     "reshape": [12, 40, 2]}}, 0, tmp_path / "d3")
    with pytest.raises(ValueError, match="lazy_inputs reads x as float32"):
        load_task_data("arrays", {**lazy, "x": {"dtype": "float16"}}, 0, tmp_path / "d4")


def test_prepared_cache_rebuilds_when_a_copy_is_gone_and_reads_old_records(tmp_path):
    args, _ = _deepsea_like(tmp_path, compressed=True)
    data = tmp_path / "data"
    first = load_task_data("arrays", {**args, "lazy_inputs": True}, 0, data)
    for c in (data / "lazy").glob("*.npy"):
        c.unlink()
    with pytest.warns(UserWarning, match="rebuilding"):
        again = load_task_data("arrays", {**args, "lazy_inputs": True}, 0, data)
    np.testing.assert_array_equal(again.x_train[:], first.x_train[:])
    with h5py.File(tmp_path / "rows.h5", "w") as f:
        f["x"] = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    old = source_from_json({"path": str(tmp_path / "rows.h5"), "key": "x"})  # records before RowSource kinds
    np.testing.assert_array_equal(LazyRows(old)[[3, 0]], np.arange(24).reshape(4, 2, 3)[[3, 0]])


def test_lazy_rows_work_as_a_dataset_with_workers(tmp_path):
    from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

    args, _ = _deepsea_like(tmp_path, compressed=False)
    eager, lazy = _eager_and_lazy(args, tmp_path / "data")
    batches = BatchSampler(SequentialSampler(range(len(lazy.x_train))), 4, drop_last=False)
    loader = DataLoader(lazy.x_train, sampler=batches, batch_size=None, num_workers=2)
    got = np.concatenate([b.numpy() for b in loader])
    np.testing.assert_array_equal(got, eager.x_train)


# ----------------------------------------------------------------------------- pdebench_hdf5
class SelectionLog:
    """Records every h5py dataset selection (name, index) made while active."""

    def __init__(self, monkeypatch):
        self.calls = []
        orig = h5py.Dataset.__getitem__

        def getitem(ds, idx, *rest, **kw):
            self.calls.append((ds.name, idx if isinstance(idx, tuple) else (idx,)))
            return orig(ds, idx, *rest, **kw)

        monkeypatch.setattr(h5py.Dataset, "__getitem__", getitem)


def _pde_2d(path, n=10, t=6, h=8):
    rng = np.random.default_rng(3)
    data = {k: rng.normal(size=(n, t, h, h)).astype(np.float32) for k in ("density", "pressure", "Vx")}
    with h5py.File(path, "w") as f:
        for k, v in data.items():
            f[k] = v
    return data


PDE_CASES = {
    "cfd2d": {"fields": ["density", "pressure", "Vx"], "spatial_dims": 2, "reduced_resolution": 2, "t_out": -1,
              "reduced_resolution_t": 2, "input_channels": [2, 0]},
    "cfd1d-flat": {"fields": ["density", "pressure"], "spatial_dims": 1, "t_in": 1, "t_out": 3,
                   "flatten_channels": True, "max_samples": 9},
}


@pytest.mark.parametrize("case", sorted(PDE_CASES))
def test_pdebench_lazy_inputs_equal_eager_and_never_read_the_time_axis(tmp_path, monkeypatch, case):
    if case == "cfd1d-flat":
        rng = np.random.default_rng(4)
        with h5py.File(tmp_path / "f.hdf5", "w") as f:
            for k in ("density", "pressure"):
                f[k] = rng.normal(size=(12, 5, 16)).astype(np.float32)
    else:
        _pde_2d(tmp_path / "f.hdf5")
    args = {"file": str(tmp_path / "f.hdf5"), **PDE_CASES[case]}
    log = SelectionLog(monkeypatch)
    eager = load_task_data("pdebench_hdf5", args, 0, tmp_path / "eager")
    lazy = load_task_data("pdebench_hdf5", {**args, "lazy_inputs": True}, 0, tmp_path / "lazy")
    _assert_same(eager, lazy)
    lazy.x_train[[4, 0, 2]]
    cached = load_task_data("pdebench_hdf5", {**args, "lazy_inputs": True}, 0, tmp_path / "lazy")
    _assert_same(eager, cached)
    assert log.calls and all(isinstance(idx[1], (int, np.integer)) for _, idx in log.calls)  # one time step


def test_pdebench_lazy_groups_and_no_time_axis(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    with h5py.File(tmp_path / "g.h5", "w") as f:
        for i in range(10):
            f.create_dataset(f"{i:04d}/data", data=rng.normal(size=(4, 8, 8, 2)).astype(np.float32))
    args = {"file": str(tmp_path / "g.h5"), "layout": "groups", "spatial_dims": 2, "t_out": -1,
            "input_channels": [0], "target_channels": [1], "reduced_resolution": 2}
    eager = load_task_data("pdebench_hdf5", args, 0, tmp_path / "eager")
    lazy = load_task_data("pdebench_hdf5", {**args, "lazy_inputs": True}, 0, tmp_path / "lazy")
    _assert_same(eager, lazy)
    with h5py.File(tmp_path / "darcy.h5", "w") as f:
        f["nu"] = rng.random((10, 8, 8)).astype(np.float32)
        f["tensor"] = rng.random((10, 1, 8, 8)).astype(np.float32)
    darcy = {"file": str(tmp_path / "darcy.h5"), "input_fields": ["nu"], "fields": ["tensor"], "time_axis": False,
             "spatial_dims": 2}
    eager = load_task_data("pdebench_hdf5", darcy, 0, tmp_path / "eager2")
    _assert_same(eager, load_task_data("pdebench_hdf5", {**darcy, "lazy_inputs": True}, 0, tmp_path / "lazy2"))


# ----------------------------------------------------------------------------- refine
def _maps_npz(tmp_path, n=12):
    """PSICOV-like 2D maps stored channels-last (N, H, W, C) in an npz: the task transposes them."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 28, 28, 1))
    y = (5 + 3 * np.abs(x.transpose(0, 3, 1, 2))).astype(np.float32)
    np.savez(tmp_path / "maps.npz", x_train=x[:9], y_train=y[:9], x_test=x[9:], y_test=y[9:])
    return {"root": str(tmp_path), **{k: {"file": "maps.npz", "key": k, **({"transpose": [0, 3, 1, 2]} if k[0] == "x"
                                                                            else {})}
                                      for k in ("x_train", "y_train", "x_test", "y_test")}}


OVERRIDES = {"input": {"modality": "2d"}, "loss": {"name": "mse"}, "metric": "nrmse",
             "embedder": {"patch_size": 4, "image_size": 56},
             "align": {"epochs": 1, "maxsamples": 3}, "refine": {"epochs": 2, "batch_size": 2, "eval_batch_size": 3}}


def test_refine_on_a_lazy_npz_split_equals_eager_and_reads_batches(toy_task, tiny_image_body, tmp_path, monkeypatch):
    from tests.stage_jobs import run_refine

    args = _maps_npz(tmp_path)
    dummy = {"x_train": np.zeros((2, 1, 2, 2)), "y_train": np.zeros((2, 1, 2, 2)),
             "x_test": np.zeros((1, 1, 2, 2)), "y_test": np.zeros((1, 1, 2, 2))}
    eager = toy_task(dummy, {**OVERRIDES, "data": {"args": args}}, name="eager")
    lazy = toy_task(dummy, {**OVERRIDES, "data": {"args": {**args, "lazy_inputs": True}}}, name="lazy")
    monkeypatch.setattr(lazy_mod, "BLOCK_BYTES", 1)  # checks and checksum: one row per read
    sizes = []
    orig = LazyRows._read
    recs = {}
    for name, task in (("eager", eager), ("lazy", lazy)):
        if name == "lazy":
            monkeypatch.setattr(LazyRows, "_read", lambda lr, rows: sizes.append(len(rows)) or orig(lr, rows))
        recs[name] = run_refine(task, "swin-base", "none", 0, tmp_path / f"{name}.json", tmp_path / "data",
                                body=copy.deepcopy(tiny_image_body), log=lambda *_: None)
    assert recs["lazy"]["scores"] == recs["eager"]["scores"]
    assert recs["lazy"]["history"] == recs["eager"]["history"]
    assert recs["lazy"]["data_sha256"] == recs["eager"]["data_sha256"]
    assert sizes and max(sizes) <= 3 and 2 in sizes  # training batches of 2, evaluation batches of 3
