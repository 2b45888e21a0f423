"""pdebench_hdf5 loader on small fixtures written in the real PDEBench layouts."""
import h5py
import numpy as np
import pytest

from orca.data import DataFormatError, DataUnavailableError, fetch, load_task_data
from orca.data.loaders.hdf5_pde import load_pdebench
from orca.spec.tasks import load_task


def _arrays_1d(path, n=10, t=21, x=64, fields=("tensor",)):
    rng = np.random.default_rng(0)
    data = {}
    with h5py.File(path, "w") as f:
        for name in fields:
            data[name] = rng.standard_normal((n, t, x)).astype(np.float32)
            f.create_dataset(name, data=data[name])
        f.create_dataset("x-coordinate", data=np.linspace(0, 1, x, dtype=np.float32))
        f.create_dataset("t-coordinate", data=np.linspace(0, 2, t + 1, dtype=np.float32))
    return data


def test_advection_layout_shapes_and_split(tmp_path):
    (tmp_path / "pdebench").mkdir()
    data = _arrays_1d(tmp_path / "pdebench" / "1D_Advection_Sols_beta0.4.hdf5")["tensor"]
    args = {"file": "1D_Advection_Sols_beta0.4.hdf5", "reduced_resolution": 4, "reduced_resolution_t": 5,
            "t_out": -1}
    d = load_task_data("pdebench_hdf5", args, 0, tmp_path)
    assert d.x_train.shape == (9, 1, 16) and d.x_test.shape == (1, 1, 16)
    assert d.y_train.shape == (9, 1, 16) and d.x_train.dtype == np.float32
    # first 10% = test; t_out -1 of the subsampled axis [0, 5, 10, 15, 20] is raw step 20
    np.testing.assert_array_equal(d.x_test[0, 0], data[0, 0, ::4])
    np.testing.assert_array_equal(d.y_train[0, 0], data[1, 20, ::4])
    assert d.info["task"] == "dense" and d.info["n_test"] == 1


def test_cfd_fields_stacked_and_flattened(tmp_path):
    data = _arrays_1d(tmp_path / "cfd.hdf5", n=20, t=11, x=8, fields=("density", "pressure", "Vx"))
    args = {"file": str(tmp_path / "cfd.hdf5"), "fields": ["density", "pressure", "Vx"], "t_out": 3,
            "reduced_resolution_t": 2}
    d = load_pdebench(args, 0, tmp_path)
    assert d.x_train.shape == (18, 3, 8)
    np.testing.assert_array_equal(d.y_train[0, 1], data["pressure"][2, 6])
    flat = load_pdebench({**args, "flatten_channels": True}, 0, tmp_path)
    assert flat.x_train.shape == (18, 1, 24)


def test_darcy_layout_no_time(tmp_path):
    rng = np.random.default_rng(1)
    nu = rng.random((10, 16, 16)).astype(np.float32)
    sol = rng.random((10, 1, 16, 16)).astype(np.float32)
    with h5py.File(tmp_path / "darcy.hdf5", "w") as f:
        f["nu"], f["tensor"] = nu, sol
        f["x-coordinate"], f["y-coordinate"] = np.arange(16.0), np.arange(16.0)
    args = {"file": str(tmp_path / "darcy.hdf5"), "input_fields": ["nu"], "fields": ["tensor"],
            "time_axis": False, "spatial_dims": 2, "reduced_resolution": 2}
    d = load_pdebench(args, 0, tmp_path)
    assert d.x_train.shape == (9, 1, 8, 8) and d.y_train.shape == (9, 1, 8, 8)
    np.testing.assert_array_equal(d.x_test[0, 0], nu[0, ::2, ::2])
    np.testing.assert_array_equal(d.y_test[0, 0], sol[0, 0, ::2, ::2])


def test_groups_layout_2d_channels(tmp_path):
    rng = np.random.default_rng(2)
    frames = {}
    with h5py.File(tmp_path / "2D_diff-react_NA_NA.h5", "w") as f:
        for i in range(10):
            g = f.create_group(f"{i:04d}")
            frames[i] = rng.random((5, 8, 8, 2)).astype(np.float32)  # (T, H, W, C)
            g["data"] = frames[i]
            g.create_group("grid")["t"] = np.linspace(0, 5, 5)
    args = {"file": str(tmp_path / "2D_diff-react_NA_NA.h5"), "layout": "groups", "spatial_dims": 2,
            "input_channels": [0], "target_channels": [1]}
    d = load_pdebench(args, 0, tmp_path)
    assert d.x_train.shape == (9, 1, 8, 8)
    np.testing.assert_array_equal(d.x_test[0, 0], frames[0][0, :, :, 0])
    np.testing.assert_array_equal(d.y_train[0, 0], frames[1][-1, :, :, 1])


def test_max_samples_and_errors(tmp_path):
    _arrays_1d(tmp_path / "a.hdf5", n=30, t=3, x=4)
    d = load_pdebench({"file": str(tmp_path / "a.hdf5"), "max_samples": 20}, 0, tmp_path)
    assert len(d.x_train) + len(d.x_test) == 20
    with pytest.raises(DataFormatError, match="time index"):
        load_pdebench({"file": str(tmp_path / "a.hdf5"), "t_out": 5}, 0, tmp_path)
    with pytest.raises(DataFormatError, match="no dataset 'u'"):
        load_pdebench({"file": str(tmp_path / "a.hdf5"), "fields": ["u"]}, 0, tmp_path)
    (tmp_path / "bad.hdf5").write_text("not hdf5")
    with pytest.raises(DataFormatError, match="bad.hdf5"):
        load_pdebench({"file": str(tmp_path / "bad.hdf5")}, 0, tmp_path)
    with pytest.raises(ValueError, match="unknown args"):
        load_pdebench({"file": "x.h5", "beta": 1}, 0, tmp_path)


def test_offline_fetch_names_file_url_and_place(tmp_path, no_network):
    args = {"file": "1D_Advection_Sols_beta0.4.hdf5",
            "download": [{"name": "1D_Advection_Sols_beta0.4.hdf5",
                          "urls": ["https://darus.uni-stuttgart.de/api/access/datafile/255674"],
                          "md5": "d595bbfd2c659df995a93cd40d6ea568"}]}
    with pytest.raises(DataUnavailableError) as e:
        fetch("pdebench_hdf5", args, tmp_path)
    msg = str(e.value)
    assert "1D_Advection_Sols_beta0.4.hdf5" in msg and "datafile/255674" in msg
    assert str(tmp_path / "pdebench" / "1D_Advection_Sols_beta0.4.hdf5") in msg


def test_generated_offline_row(tmp_path, no_network):
    task = load_task("benchmarks/offline/advection1d.yaml")
    d = load_task_data(task.data.loader, task.data.args, 0, tmp_path)
    assert d.x_train.shape == (256, 1, 128) and d.x_test.shape == (64, 1, 128)
    assert d.y_train.shape == d.x_train.shape
    assert task.output.kind == "dense" and task.metric == "nrmse"
    # exact advection: the target is the input shifted by beta * t_final = 0.8 of the domain
    k = np.fft.rfftfreq(128, d=1.0 / 128)
    shifted = np.fft.irfft(np.fft.rfft(d.x_test, axis=-1) * np.exp(-2j * np.pi * k * 0.8), n=128, axis=-1)
    np.testing.assert_allclose(d.y_test, shifted, atol=1e-4)
