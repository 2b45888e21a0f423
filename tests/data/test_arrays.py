"""``arrays`` loader on tiny fixtures written in the real on-disk formats of the paper's rows."""
import gzip
import hashlib
import io
import pickle
import tarfile

import h5py
import numpy as np
import pytest
import scipy.io

from orca.data import DataFormatError, DataUnavailableError, fetch, load_task_data
from orca.data.loaders.arrays import load_arrays, parse_slice
from orca.data.download.fetching import ensure_file, verify

RNG = np.random.default_rng(0)


def test_npz_deepsea_like_transpose_and_val_merge(tmp_path):
    z = {f"x_{s}": RNG.integers(0, 2, (n, 20, 4)).astype(np.uint8) for s, n in (("train", 6), ("val", 2), ("test", 3))}
    z.update({f"y_{s}": RNG.integers(0, 2, (n, 36)).astype(np.float32) for s, n in (("train", 6), ("val", 2), ("test", 3))})
    np.savez(tmp_path / "deepsea_filtered.npz", **z)
    spec = lambda k: {"file": "deepsea_filtered.npz", "key": k, **({"transpose": [0, 2, 1]} if k[0] == "x" else {})}
    args = {f: spec(f) for f in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    d = load_task_data("arrays", args, 0, tmp_path)
    assert d.x_train.shape == (8, 4, 20) and d.y_train.shape == (8, 36) and d.x_test.shape == (3, 4, 20)
    np.testing.assert_array_equal(d.x_train[6], z["x_val"][0].T)
    assert d.y_train.dtype == np.float32 and d.x_train.dtype == np.float32


def test_pickled_dict_npy_satellite_like(tmp_path):
    for s, n in (("train", 10), ("test", 4)):
        np.save(tmp_path / f"satellite_{s}.npy",
                {"data": RNG.random((n, 46)), "label": RNG.integers(1, 25, n)}, allow_pickle=True)
    args = {"x_train": {"file": "satellite_train.npy", "key": "data"},
            "y_train": {"file": "satellite_train.npy", "key": "label"},
            "x_test": {"file": "satellite_test.npy", "key": "data"},
            "y_test": {"file": "satellite_test.npy", "key": "label"}, "y": {"offset": -1}}
    with pytest.raises(DataFormatError, match="allow_pickle"):
        load_arrays(args, 0, tmp_path)
    d = load_arrays({**args, "allow_pickle": True}, 0, tmp_path)
    assert d.x_train.shape == (10, 1, 46) and d.y_train.dtype == np.int64 and d.y_train.min() >= 0


def test_gzip_pickle_spherical_like(tmp_path):
    obj = {"train": {"images": RNG.random((5, 3, 6, 6)), "labels": np.arange(5)},
           "test": {"images": RNG.random((2, 3, 6, 6)), "labels": np.arange(2)}}
    with gzip.open(tmp_path / "s2_cifar100.gz", "wb") as f:
        pickle.dump(obj, f)
    args = {f"{v}_{s}": {"file": "s2_cifar100.gz", "key": f"{s}/{'images' if v == 'x' else 'labels'}"}
            for v in "xy" for s in ("train", "test")}
    d = load_arrays({**args, "allow_pickle": True}, 0, tmp_path)
    assert d.x_train.shape == (5, 3, 6, 6) and d.y_test.tolist() == [0, 1]
    assert d.info["num_classes"] == 5


def test_tar_member_python2_pickle_cifar_like(tmp_path):
    def member(n):
        return pickle.dumps({b"data": RNG.integers(0, 256, (n, 3 * 4 * 4), dtype=np.uint8),
                             b"fine_labels": list(range(n))}, protocol=2)
    with tarfile.open(tmp_path / "cifar.tar.gz", "w:gz") as tar:
        for name, n in (("c/train", 6), ("c/test", 2)):
            blob = member(n)
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    args = {"allow_pickle": True, "x": {"scale": 1 / 255}}
    for s in ("train", "test"):
        args[f"x_{s}"] = {"file": f"cifar.tar.gz::c/{s}", "format": "pickle", "key": "data", "encoding": "latin1",
                          "reshape": [-1, 3, 4, 4]}
        args[f"y_{s}"] = {"file": f"cifar.tar.gz::c/{s}", "format": "pickle", "key": "fine_labels",
                          "encoding": "latin1"}
    d = load_arrays(args, 0, tmp_path)
    assert d.x_train.shape == (6, 3, 4, 4) and d.x_train.max() <= 1.0
    with pytest.raises(DataFormatError, match="no member"):
        load_arrays({**args, "x_train": {"file": "cifar.tar.gz::c/nope", "format": "pickle"}}, 0, tmp_path)


def test_mat_darcy_like_slice_and_grid(tmp_path):
    coeff, sol = RNG.random((12, 21, 21)), RNG.random((12, 21, 21))
    scipy.io.savemat(tmp_path / "smooth1.mat", {"coeff": coeff, "sol": sol})
    args = {"x_train": {"file": "smooth1.mat", "key": "coeff", "slice": ":10, ::5, ::5"},
            "y_train": {"file": "smooth1.mat", "key": "sol", "slice": ":10, ::5, ::5"},
            "x_test": {"file": "smooth1.mat", "key": "coeff", "slice": "10:, ::5, ::5"},
            "y_test": {"file": "smooth1.mat", "key": "sol", "slice": "10:, ::5, ::5"},
            "x": {"add_channel_axis": True, "append_grid": True}, "y": {"add_channel_axis": True}}
    d = load_arrays(args, 0, tmp_path)
    assert d.x_train.shape == (10, 3, 5, 5) and d.y_train.shape == (10, 1, 5, 5) and d.x_test.shape == (2, 3, 5, 5)
    np.testing.assert_allclose(d.x_train[0, 0], coeff[0, ::5, ::5], rtol=1e-6)
    np.testing.assert_allclose(d.x_train[0, 2, 0], np.linspace(0, 1, 5), rtol=1e-6)
    with pytest.raises(DataFormatError, match="no variable"):
        load_arrays({**args, "x_train": {"file": "smooth1.mat", "key": "a"}}, 0, tmp_path)


def test_mat_v73_via_h5py(tmp_path):
    arr = RNG.random((4, 3, 5))
    # MATLAB v7.3: an HDF5 file behind a 512-byte MATLAB header, arrays stored transposed
    with h5py.File(tmp_path / "v73.mat", "w", userblock_size=512) as f:
        f["coeff"] = arr.T
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(tmp_path / "v73.mat", "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
    from orca.data.loaders.arrays import read_array
    out = read_array({"file": "v73.mat", "key": "coeff"}, tmp_path, False)
    np.testing.assert_allclose(out, arr)


def test_hdf5_features_and_seeded_split(tmp_path):
    with h5py.File(tmp_path / "fsd.h5", "w") as f:
        f["x"] = RNG.random((20, 1, 6, 7))
        f["y"] = RNG.integers(0, 2, (20, 5)).astype(np.float32)
    args = {"x_train": {"file": "fsd.h5", "key": "x"}, "y_train": {"file": "fsd.h5", "key": "y"},
            "test_fraction": 0.25, "split_seed": 3}
    a, b = load_arrays(args, 0, tmp_path), load_arrays(args, 5, tmp_path)
    assert a.x_train.shape == (15, 1, 6, 7) and a.x_test.shape == (5, 1, 6, 7)
    np.testing.assert_array_equal(a.x_test, b.x_test)  # the test set does not move with the run seed
    first = load_arrays({**args, "test_split": "first"}, 0, tmp_path)
    with h5py.File(tmp_path / "fsd.h5") as f:
        np.testing.assert_allclose(first.x_test, f["x"][:5].astype(np.float32))


def test_npy_files_ninapro_like(tmp_path):
    for s, n in (("train", 8), ("val", 2), ("test", 3)):
        np.save(tmp_path / f"ninapro_{s}.npy", RNG.random((n, 16, 52)).astype(np.float32))
        np.save(tmp_path / f"label_{s}.npy", RNG.integers(0, 18, n))
    args = {f"x_{s}": f"ninapro_{s}.npy" for s in ("train", "val", "test")}
    args.update({f"y_{s}": f"label_{s}.npy" for s in ("train", "val", "test")})
    d = load_arrays({**args, "x": {"add_channel_axis": True}}, 0, tmp_path)
    assert d.x_train.shape == (10, 1, 16, 52) and d.y_train.shape == (10,)


def test_parse_slice():
    assert parse_slice(":1000, ::5, ::5") == (slice(None, 1000), slice(None, None, 5), slice(None, None, 5))
    assert parse_slice("..., 0") == (Ellipsis, 0)
    with pytest.raises(ValueError):
        parse_slice("__import__('os')")


def test_bad_args(tmp_path):
    with pytest.raises(ValueError, match="needs args.x_train"):
        load_arrays({"y_train": "a.npy"}, 0, tmp_path)
    with pytest.raises(ValueError, match="both x_test and y_test"):
        load_arrays({"x_train": "a.npy", "y_train": "b.npy", "x_test": "c.npy"}, 0, tmp_path)
    with pytest.raises(ValueError, match="unknown args"):
        load_arrays({"x_train": "a.npy", "y_train": "b.npy", "xx": 1}, 0, tmp_path)
    with pytest.raises(DataUnavailableError, match="orca fetch"):
        load_arrays({"x_train": "a.npy", "y_train": "b.npy"}, 0, tmp_path)


def test_fetch_offline_names_url_and_checksum(tmp_path, no_network):
    args = {"root": "nb360", "x_train": "ninapro_train.npy", "y_train": "label_train.npy",
            "download": [{"name": "ninapro_train.npy", "urls": ["https://pde-xd.s3.amazonaws.com/ninapro/ninapro_train.npy"]}]}
    with pytest.raises(DataUnavailableError) as e:
        fetch("arrays", args, tmp_path)
    assert "ninapro_train.npy" in str(e.value) and "pde-xd.s3.amazonaws.com" in str(e.value)
    assert str(tmp_path / "nb360" / "ninapro_train.npy") in str(e.value)


def test_fetch_accepts_present_files_and_checks_md5(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"hello")
    md5 = hashlib.md5(b"hello").hexdigest()
    assert ensure_file("f.bin", tmp_path, {"name": "f.bin", "md5": md5, "size": 5}) == tmp_path / "f.bin"
    assert (tmp_path / ".f.bin.verified").is_file()
    verify(tmp_path / "f.bin", {"name": "f.bin", "md5": md5})  # stamp hit
    with pytest.raises(DataFormatError, match="does not match"):
        ensure_file("f.bin", tmp_path, {"name": "f.bin", "md5": "0" * 32})
    with pytest.raises(DataFormatError, match="size"):
        ensure_file("f.bin", tmp_path, {"name": "f.bin", "size": 6})
    with pytest.raises(DataUnavailableError, match="no public URL"):
        ensure_file("g.bin", tmp_path, None)


def test_extras_clip_ids_hdf5_val_merge_and_prepared_cache(tmp_path):
    with h5py.File(tmp_path / "fsd.h5", "w") as f:
        for s, n in (("train", 6), ("val", 2), ("test", 4)):
            f[f"x_{s}"] = RNG.random((n, 1, 4, 5))
            f[f"y_{s}"] = RNG.integers(0, 2, (n, 3)).astype(np.float32)
            f[f"clip_ids_{s}"] = np.arange(n) // 2 + {"train": 0, "val": 100, "test": 200}[s]
    args = {f"{v}_{s}": {"file": "fsd.h5", "key": f"{v}_{s}"} for v in "xy" for s in ("train", "val", "test")}
    args["extras"] = {f"clip_ids_{s}": {"file": "fsd.h5", "key": f"clip_ids_{s}"} for s in ("train", "val", "test")}
    d = load_task_data("arrays", args, 0, tmp_path)
    assert sorted(d.extras) == ["clip_ids_test", "clip_ids_train"]
    assert d.extras["clip_ids_train"].tolist() == [0, 0, 1, 1, 2, 2, 100, 100]  # val ids joined like x_val
    again = load_task_data("arrays", args, 0, tmp_path)  # from the prepared cache
    np.testing.assert_array_equal(again.extras["clip_ids_test"], [200, 200, 201, 201])


def test_extras_follow_the_carved_test_split(tmp_path):
    np.savez(tmp_path / "a.npz", x=RNG.random((10, 1, 4)), y=RNG.random((10, 2)), ids=np.arange(10) * 10)
    args = {"x_train": {"file": "a.npz", "key": "x"}, "y_train": {"file": "a.npz", "key": "y"},
            "test_fraction": 0.3, "test_split": "last", "extras": {"ids_train": {"file": "a.npz", "key": "ids"}}}
    d = load_arrays(args, 0, tmp_path)
    assert d.extras["ids_train"].tolist() == [0, 10, 20, 30, 40, 50, 60] and d.extras["ids_test"].tolist() == [70, 80, 90]


def test_bad_extras(tmp_path):
    base = {"x_train": "a.npy", "y_train": "b.npy"}
    with pytest.raises(ValueError, match="must be <name>_train"):
        load_arrays({**base, "extras": {"clip_ids": "c.npy"}}, 0, tmp_path)
    with pytest.raises(ValueError, match="needs args.x_test"):
        load_arrays({**base, "extras": {"clip_ids_test": "c.npy"}}, 0, tmp_path)
    with pytest.raises(ValueError, match="give clip_ids_val as well"):
        load_arrays({**base, "x_val": "v.npy", "y_val": "w.npy", "extras": {"clip_ids_train": "c.npy"}}, 0, tmp_path)
