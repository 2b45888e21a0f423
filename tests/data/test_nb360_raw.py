"""NAS-Bench-360 raw-archive converters (ECG, PSICOV, Cosmic) on tiny fixtures in the archives' own layouts."""
import io
import pickle
import random
import tarfile
import zipfile

import h5py
import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from orca.data import DataFormatError, load_task_data
from orca.data.preparation.nb360_raw import (
    ECG_DEFAULTS,
    PSICOV_DEFAULTS,
    distance_map,
    prepare_cosmic,
    prepare_ecg,
    prepare_psicov,
    slide_windows,
)
from orca.data.preparation.prepare import resolve_args
from orca.data.preparation.prepare import prepare_task
from orca.spec.tasks import load_task
from tests.workflow.test_e2e import REPO

RNG = np.random.default_rng(1)


# ----------------------------------------------------------------------------- ECG
def write_challenge2017(path, n=30):
    """NAS-Bench-360's challenge2017.pkl: {'data': variable-length records, 'label': 'N' / 'A' / 'O' / '~'}."""
    labels = ["N", "A", "O", "~"] * (n // 4) + ["N"] * (n % 4)
    data = [RNG.normal(3.0, 2.0, int(RNG.integers(1200, 3000))).astype(np.float64) for _ in range(n)]
    data[5] = np.zeros(1000)  # exactly one window long: no window (ORCA's range stops before len - window)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump({"data": np.array(data, dtype=object), "label": np.array(labels)}, fh)
    return data, labels


def test_ecg_windows_zscore_class_strides_and_record_split(tmp_path):
    data, labels = write_challenge2017(tmp_path / "challenge2017.pkl")
    args = resolve_args({"step": "nb360_ecg", "files": [{"name": "challenge2017.pkl", "note": "x"}],
                         "args": {"allow_pickle": True}})
    assert prepare_ecg(tmp_path, tmp_path, args) == ["ecg_prepared.npz"]
    z = np.load(tmp_path / "ecg_prepared.npz")
    train, test = train_test_split(np.arange(len(data)), test_size=0.1, random_state=0)
    assert set(np.unique(z["record_test"])) <= set(test) and set(np.unique(z["record_train"])) <= set(train)
    strides = {"N": 500, "A": 83, "O": 250, "~": 25}
    for split, recs in (("train", train), ("test", test)):
        x, y, rec = z[f"x_{split}"], z[f"y_{split}"], z[f"record_{split}"]
        assert x.dtype == np.float32 and x.shape[1:] == (1, 1000) and y.dtype == np.int64
        for r in recs:
            n_win = len(range(0, len(data[r]) - 1000, strides[labels[r]]))
            assert (rec == r).sum() == n_win
            if n_win:
                zs = (data[r] - data[r].mean()) / data[r].std()
                first = np.flatnonzero(rec == r)[0]
                np.testing.assert_allclose(x[first + 1 if n_win > 1 else first, 0],
                                           zs[strides[labels[r]] if n_win > 1 else 0:][:1000], rtol=1e-5, atol=1e-5)
                assert (y[rec == r] == "NAO~".index(labels[r])).all()
    assert (z["record_train"] == 5).sum() + (z["record_test"] == 5).sum() == 0


def test_ecg_needs_allow_pickle_and_known_labels(tmp_path):
    write_challenge2017(tmp_path / "challenge2017.pkl")
    args = {**{k: v for k, v in ECG_DEFAULTS.items()}}
    with pytest.raises(DataFormatError, match="allow_pickle: true"):
        prepare_ecg(tmp_path, tmp_path, args)
    with pytest.raises(DataFormatError, match=r"labels \['~'\] are not among"):
        prepare_ecg(tmp_path, tmp_path, {**args, "allow_pickle": True, "labels": ["N", "A", "O", "X"]})


def test_slide_windows_stops_before_the_last_start():
    assert slide_windows(np.arange(10.0), 4, 3).tolist() == [[0, 1, 2, 3], [3, 4, 5, 6]]


def test_ecg_task_file_prepares_and_loads(tmp_path):
    write_challenge2017(tmp_path / "nb360" / "ecg" / "challenge2017.pkl")
    task = load_task(REPO / "benchmarks/nb360/ecg.yaml")
    prepare_task(task, tmp_path)
    d = load_task_data(task.spec["data"]["loader"], task.spec["data"]["args"], 0, tmp_path)
    assert d.x_train.shape[1:] == tuple(task.spec["input"]["shape"]) and d.y_train.dtype == np.int64
    assert set(np.unique(d.y_train)) == {0, 1, 2, 3}


# ----------------------------------------------------------------------------- PSICOV
def protein(L, seed):
    r = np.random.default_rng(seed)
    feats = {"seq": "A" * L, "ss": r.random((3, L)), "pssm": r.random((L, 22)), "sa": r.random(L),
             "entropy": r.random(L), "ccmpred": r.random((L, L)), "freecon": r.random((L, L)),
             "potential": r.random((L, L))}
    cb = r.uniform(0.5, 30.0, (L, L))
    cb = (cb + cb.T) / 2
    cb[2, 7] = cb[7, 2] = np.nan  # an unresolved pair
    return feats, cb


def write_protein_zip(path, train=(("1abcA", 12), ("2defB", 30)), test=(("3ghiC", 14),), prefix="protein/",
                      unlisted_files=()):
    """protein.zip: deepcov.lst, psicov.lst, <set>/features/<id>.pkl, <set>/distance/<id>-cb.npy.

    ``unlisted_files``: ids listed in psicov.lst that have no files."""
    facts = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for lst, sset, items in (("deepcov.lst", "deepcov", train), ("psicov.lst", "psicov", test)):
            extra = unlisted_files if sset == "psicov" else ()
            z.writestr(prefix + lst, "".join(f"{pid} {L}\n" for pid, L in (*items, *extra)))
            for pid, L in items:
                feats, cb = protein(L, sum(map(ord, pid)))
                facts[pid] = (feats, cb)
                z.writestr(f"{prefix}{sset}/features/{pid}.pkl", pickle.dumps(feats))
                buf = io.BytesIO()
                np.save(buf, np.array([L, feats["seq"], cb], dtype=object), allow_pickle=True)
                z.writestr(f"{prefix}{sset}/distance/{pid}-cb.npy", buf.getvalue())
    return facts


def _psicov_args(**kw):
    return {**PSICOV_DEFAULTS, "allow_pickle": True, "window": 32, **kw}


def test_psicov_channels_padding_targets_and_crop(tmp_path):
    facts = write_protein_zip(tmp_path / "protein.zip")
    prepare_psicov(tmp_path, tmp_path, _psicov_args())
    with h5py.File(tmp_path / "psicov_prepared.h5") as f:
        xtr, ytr, xte, yte = (f[k][()] for k in ("x_train", "y_train", "x_test", "y_test"))
        assert f["id_train"][()].tolist() == [b"1abcA", b"2defB"] and f["length_test"][()].tolist() == [14]
    assert xtr.shape == (2, 57, 32, 32) and ytr.shape == (2, 1, 32, 32) and xte.shape == (1, 57, 32, 32)
    feats, cb = facts["1abcA"]
    s = slice(5, 17)  # pad 10 -> 5 residues of padding before the protein
    np.testing.assert_allclose(xtr[0, 0, s, s], np.broadcast_to(feats["ss"][0][None, :], (12, 12)), rtol=1e-6)
    np.testing.assert_allclose(xtr[0, 1, s, s], np.broadcast_to(feats["ss"][0][:, None], (12, 12)), rtol=1e-6)
    np.testing.assert_allclose(xtr[0, 6 + 2 * 21, s, s], np.broadcast_to(feats["pssm"][:, 21][None, :], (12, 12)), rtol=1e-6)
    np.testing.assert_allclose(xtr[0, 54, s, s], feats["ccmpred"], rtol=1e-6)
    np.testing.assert_allclose(xtr[0, 56, s, s], feats["potential"], rtol=1e-6)
    assert (xtr[0, :, :5] == 0).all() and (xtr[0, :, 17:] == 0).all()
    want = np.minimum(distance_map(12, cb), 16.0)  # training targets clipped at 16 A
    np.testing.assert_allclose(ytr[0, 0, s, s], want, rtol=1e-6)
    assert np.isnan(ytr[0, 0, 5 + 2, 5 + 7]) and (ytr[0, 0, :5] == 16.0).all()  # missing: NaN; padding: 100 -> 16
    _, cb_t = facts["3ghiC"]
    yt = yte[0, 0, 5:19, 5:19]
    np.testing.assert_allclose(yt[~np.isnan(yt)], distance_map(14, cb_t)[~np.isnan(yt)], rtol=1e-6)
    assert np.nanmax(yte) == 100.0 and (yte[0, 0, 19:] == 100.0).all()  # test: no clipping, padding 100
    # 2defB: 30 + 10 > 32 -> a crop, the same for the same seed
    prepare_psicov(tmp_path, tmp_path, _psicov_args(out="again.h5"))
    with h5py.File(tmp_path / "again.h5") as f:
        np.testing.assert_array_equal(f["x_train"][1], xtr[1])


def test_distance_map_diagonal_and_floor():
    cb = np.array([[0.0, 3.0, 9.0], [3.0, 0.5, 5.0], [9.0, 5.0, 0.0]])
    y = distance_map(3, cb)
    assert y[0, 0] == 3.0 and y[2, 2] == 5.0 and y[1, 1] == 4.0 and y.min() >= 1.0


def test_psicov_errors_name_the_protein(tmp_path):
    write_protein_zip(tmp_path / "protein.zip", unlisted_files=(("missingX", 10),))
    with pytest.raises(DataFormatError, match="missingX"):
        prepare_psicov(tmp_path, tmp_path, _psicov_args())
    with pytest.raises(DataFormatError, match="allow_pickle"):
        prepare_psicov(tmp_path, tmp_path, {**_psicov_args(), "allow_pickle": False})


def test_psicov_task_file_prepares_and_loads_with_a_small_window(tmp_path):
    write_protein_zip(tmp_path / "nb360" / "psicov" / "protein.zip", prefix="")  # archive without a top folder
    task = load_task(REPO / "benchmarks/nb360/psicov.yaml", {"prepare": {"args": {"window": 40}}})
    prepare_task(task, tmp_path)
    d = load_task_data(task.spec["data"]["loader"], task.spec["data"]["args"], 0, tmp_path)
    assert d.x_train.shape == (2, 57, 40, 40) and d.y_test.shape == (1, 1, 40, 40)


# ----------------------------------------------------------------------------- Cosmic
def write_deepcr_tar(path, split, frames):
    """deepCR.ACS-WFC.<split>.tar: npy_<split>/<filter>/<proposal>/<visit>/<k>_<name>.npy (+ sky.npy per visit)."""
    facts = {}
    with tarfile.open(path, "w") as tar:
        def add(name, arr):
            buf = io.BytesIO()
            np.save(buf, arr)
            info = tarfile.TarInfo(f"./npy_{split}/{name}")
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))
        for filt, prop, visit, k, planes in frames:
            stack = RNG.normal(100, 10, (planes, 200, 200)).astype(np.float32)
            stack[1] = RNG.random((200, 200)) < 0.05
            if planes == 3:
                stack[2] = RNG.random((200, 200)) < 0.1
            add(f"{filt}/{prop}/{visit}/{k}_frame.npy", stack)
            facts[(filt, prop, visit, k)] = stack
        for filt, prop, visit in {(f, p, v) for f, p, v, _, _ in frames}:
            add(f"{filt}/{prop}/{visit}/sky.npy", np.array([11.0, 22.0, 33.0]))
    return facts


def test_cosmic_filter_fields_crop_ignore_and_sky(tmp_path):
    tr = write_deepcr_tar(tmp_path / "deepCR.ACS-WFC.train.tar", "train", [
        ("f435w", "10760", "2", 1, 3), ("f435w", "10760", "2", 2, 2), ("f435w", "10595", "2", 1, 3),  # GC field
        ("f606w", "10760", "2", 1, 3), ("f435w", "12058", "12", 3, 3)])
    write_deepcr_tar(tmp_path / "deepCR.ACS-WFC.test.tar", "test", [("f435w", "13737", "3", 1, 3)])
    args = resolve_args({"step": "nb360_cosmic", "args": {"fields": ["10760_2", "12058_12", "13737_3"]},
                         "files": [{"name": "deepCR.ACS-WFC.train.tar", "note": "x"},
                                   {"name": "deepCR.ACS-WFC.test.tar", "note": "x"}]})
    prepare_cosmic(tmp_path, tmp_path, args)
    z = np.load(tmp_path / "cosmic_prepared.npz")
    assert z["x_train"].shape == (3, 1, 128, 128) and z["y_test"].shape == (1, 1, 128, 128)
    order = [("10760", "2", 1), ("10760", "2", 2), ("12058", "12", 3)]  # sorted member names, f435w only
    for i, (prop, visit, k) in enumerate(order):
        stack = tr[("f435w", prop, visit, k)][:, 64:192, 64:192]
        np.testing.assert_array_equal(z["x_train"][i, 0], stack[0])
        ignore = stack[2] if k != 2 else np.zeros_like(stack[0])
        np.testing.assert_array_equal(z["y_train"][i, 0], np.where(ignore != 0, -1.0, stack[1]))
        assert z["sky_train"][i] == [11.0, 22.0, 33.0][k - 1]
    assert set(np.unique(z["y_train"])) == {-1.0, 0.0, 1.0}


def test_cosmic_no_matching_images_is_an_error(tmp_path):
    for split in ("train", "test"):
        write_deepcr_tar(tmp_path / f"deepCR.ACS-WFC.{split}.tar", split, [("f814w", "10760", "2", 1, 3)])
    args = resolve_args({"step": "nb360_cosmic", "args": {"fields": ["10760_2"]},
                         "files": [{"name": "deepCR.ACS-WFC.train.tar", "note": "x"},
                                   {"name": "deepCR.ACS-WFC.test.tar", "note": "x"}]})
    with pytest.raises(DataFormatError, match="no npy_\\*/f435w"):
        prepare_cosmic(tmp_path, tmp_path, args)


def test_cosmic_task_file_prepares_and_loads(tmp_path):
    root = tmp_path / "nb360" / "cosmic"
    root.mkdir(parents=True)
    write_deepcr_tar(root / "deepCR.ACS-WFC.train.tar", "train", [("f435w", "10760", "2", 1, 3), ("f435w", "13804", "6", 2, 3)])
    write_deepcr_tar(root / "deepCR.ACS-WFC.test.tar", "test", [("f435w", "13737", "3", 1, 3)])
    task = load_task(REPO / "benchmarks/nb360/cosmic.yaml")
    prepare_task(task, tmp_path)
    d = load_task_data(task.spec["data"]["loader"], task.spec["data"]["args"], 0, tmp_path)
    assert d.x_train.shape == (2, 1, 128, 128) and d.y_train.shape == (2, 1, 128, 128)


def test_random_is_not_used_globally():
    """Seeded crops must not depend on (or disturb) the global random state."""
    random.seed(5)
    before = random.random()
    random.seed(5)
    from orca.data.preparation.nb360_raw import place

    place(np.zeros((1, 50, 50), np.float32), np.zeros((50, 50), np.float32), 32, 10, 100.0, random.Random(0))
    assert random.random() == before
