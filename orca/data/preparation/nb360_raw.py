"""Converters from the NAS-Bench-360 raw archives to the prepared files the ``arrays`` loader reads.

Each converter follows the data path of the ORCA code (``src/data_loaders.py``; Cosmic:
``src/datasets/preprocess_cosmic.py``), which reads the same archives as NAS-Bench-360, except that
random choices are seeded and training-time augmentation is left out (noted per step). Invalid
targets are kept and marked (PSICOV: NaN, where ORCA writes 0; Cosmic: -1, where ORCA masks the loss).

* ``nb360_ecg``: ``challenge2017.pkl`` -> ``ecg_prepared.npz``
* ``nb360_psicov``: ``protein.zip`` -> ``psicov_prepared.h5``
* ``nb360_cosmic``: ``deepCR.ACS-WFC.{train,test}.tar`` -> ``cosmic_prepared.npz``

Pickled inputs (ECG, PSICOV) need ``allow_pickle: true`` in the step's args: pickles can run code
when read, so only files from a trusted source (ideally with a checksum in ``prepare.files``).
"""

from __future__ import annotations

import io
import pickle
import random
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from ...runtime.process import atomic_output
from ..core import DataFormatError
from .prepare import REQUIRED, register_preparer, save_npz


def _require_pickle(args: dict, what: str) -> None:
    if not args.get("allow_pickle"):
        raise DataFormatError(f"{what} holds Python pickles, which can run code when read; set "
                              "prepare.args.allow_pickle: true (only for a trusted, checksummed file)")


# ============================================================================ ECG (PhysioNet/CinC 2017)
ECG_DEFAULTS = {
    "file": "challenge2017.pkl", "allow_pickle": False, "encoding": None, "out": "ecg_prepared.npz",
    "window": 1000, "stride": 500, "labels": ["N", "A", "O", "~"],
    "stride_divisors": [1, 6, 2, 20], "test_size": 0.1, "random_state": 0,
}


def slide_windows(signal: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Windows ``signal[j:j + window]`` for ``j in range(0, len - window, stride)`` -> (n, window).

    The range stops before ``len - window`` (ORCA's ``slide_and_cut``): a record of exactly
    ``window`` samples gives no window.
    """
    starts = np.arange(0, len(signal) - window, stride)
    if len(starts) == 0:
        return np.zeros((0, window), dtype=np.float32)
    return np.stack([signal[j:j + window] for j in starts]).astype(np.float32)


def zscore(signal: np.ndarray) -> np.ndarray:
    """(x - mean) / std over one record (population std); a flat record is only centred."""
    x = np.asarray(signal, dtype=np.float64)
    std = x.std()
    return (x - x.mean()) / (std if std > 0 else 1.0)


def _ecg_windows(records, labels: np.ndarray, idx: np.ndarray, window: int, strides: list[int]):
    xs, ys, rec = [], [], []
    for i in idx:
        w = slide_windows(zscore(records[i]), window, strides[labels[i]])
        xs.append(w)
        ys.append(np.full(len(w), labels[i], dtype=np.int64))
        rec.append(np.full(len(w), i, dtype=np.int64))
    return np.concatenate(xs)[:, None, :], np.concatenate(ys), np.concatenate(rec)


def _check_ecg(a: dict) -> None:
    if len(a["labels"]) != len(a["stride_divisors"]) or min(a["stride_divisors"]) < 1:
        raise ValueError("labels and stride_divisors need one entry per class, divisors >= 1")
    if int(a["window"]) < 1 or int(a["stride"]) < 1 or not 0 < float(a["test_size"]) < 1:
        raise ValueError("window and stride must be >= 1 and test_size in (0, 1)")


@register_preparer("nb360_ecg", ECG_DEFAULTS, ("file",), _check_ecg)
def prepare_ecg(raw_dir: Path, out_dir: Path, args: dict) -> list[str]:
    """``challenge2017.pkl`` ({'data': records, 'label': 'N'/'A'/'O'/'~'}) -> windows of the records.

    Per record: z-score, then windows of ``window`` samples with a class-dependent stride
    ``stride // stride_divisors[class]`` (ORCA: 500, 83, 250, 25 for N, A, O, ~). Records are split
    before windowing with ``sklearn.model_selection.train_test_split(test_size, random_state)``,
    as ORCA does. Out: ``x_* (n, 1, window)`` float32, ``y_* (n,)`` int64 class ids,
    ``record_*`` (n,) index of each window's record. Not done: ORCA's unseeded shuffle of the windows.
    """
    from sklearn.model_selection import train_test_split

    path = Path(raw_dir) / args["file"]
    _require_pickle(args, str(path))
    with open(path, "rb") as fh:
        res = pickle.load(fh, encoding=args["encoding"] or "ASCII")
    try:
        records, names = list(res["data"]), [str(v) for v in res["label"]]
    except (KeyError, TypeError) as e:
        raise DataFormatError(f"{path}: expected a dict with 'data' (records) and 'label' ({e})") from e
    if len(records) != len(names):
        raise DataFormatError(f"{path}: {len(records)} records but {len(names)} labels")
    unknown = sorted(set(names) - set(args["labels"]))
    if unknown:
        raise DataFormatError(f"{path}: labels {unknown} are not among {args['labels']}; fix prepare.args.labels")
    labels = np.array([args["labels"].index(n) for n in names], dtype=np.int64)
    strides = [max(1, int(args["stride"]) // int(d)) for d in args["stride_divisors"]]
    train, test = train_test_split(np.arange(len(records)), test_size=args["test_size"],
                                   random_state=args["random_state"])
    out = {}
    for split, idx in (("train", train), ("test", test)):
        out[f"x_{split}"], out[f"y_{split}"], out[f"record_{split}"] = _ecg_windows(
            records, labels, idx, int(args["window"]), strides)
    save_npz(Path(out_dir) / args["out"], out)
    return [args["out"]]


# ============================================================================ PSICOV (DeepCov train, PSICOV-150 test)
PSICOV_DEFAULTS = {
    "archive": "protein.zip", "allow_pickle": False, "out": "psicov_prepared.h5",
    "train_list": "deepcov.lst", "test_list": "psicov.lst", "sets": ["deepcov", "psicov", "cameo"],
    "window": 512, "pad": 10, "pad_value": 100.0, "train_clip": 16.0, "channels": 57, "crop_seed": 0,
}


class ProteinArchive:
    """``protein.zip``: ``<set>.lst`` lists, ``<set>/features/<id>.pkl``, ``<set>/distance/<id>-cb.npy``.

    The folder holding ``deepcov.lst`` inside the archive is the base (``protein/`` or none).
    """

    def __init__(self, path: Path, train_list: str, sets: list[str]):
        self.zip = zipfile.ZipFile(path)
        names = self.zip.namelist()
        bases = [n[: -len(train_list)] for n in names if n == train_list or n.endswith("/" + train_list)]
        if len(bases) != 1:
            raise DataFormatError(f"{path}: expected one {train_list} in the archive, found {len(bases)}")
        self.base, self.names, self.sets = bases[0], set(names), sets

    def read(self, rel: str) -> bytes:
        return self.zip.read(self.base + rel)

    def ids(self, lst: str) -> list[str]:
        """First token of each non-empty line of a list file (ORCA's ``load_list``)."""
        lines = self.read(lst).decode().splitlines()
        return [ln.split()[0] for ln in lines if ln.strip()]

    def find(self, kind: str, name: str) -> str | None:
        """The member for ``<set>/<kind>/<name>``; like ORCA, the last of ``sets`` that has it."""
        hits = [f"{s}/{kind}/{name}" for s in self.sets if self.base + f"{s}/{kind}/{name}" in self.names]
        return hits[-1] if hits else None


def pair_features(f: dict, channels: int) -> np.ndarray:
    """PDNet input channels (C, L, L) from one feature pickle, in ORCA's ``get_feature`` order.

    Per 1-D feature v (3 secondary-structure rows, 22 PSSM columns, solvent accessibility,
    entropy): ``v[k]`` broadcast along rows, then its transpose; then the 2-D CCMpred,
    FreeContact and statistical-potential maps: 6 + 44 + 2 + 2 + 3 = 57 channels.
    """
    L = len(f["seq"])
    ones = [np.asarray(f["ss"], np.float32)[j] for j in range(3)]
    ones += [np.asarray(f["pssm"], np.float32)[:, j] for j in range(22)]
    ones += [np.asarray(f["sa"], np.float32), np.asarray(f["entropy"], np.float32)]
    chans = []
    for v in ones:
        if v.shape != (L,):
            raise DataFormatError(f"feature vector of shape {v.shape}, expected ({L},)")
        row = np.broadcast_to(v[None, :], (L, L))
        chans += [row, row.T]
    for key in ("ccmpred", "freecon", "potential"):
        m = np.asarray(f[key], np.float32)
        if m.shape != (L, L):
            raise DataFormatError(f"'{key}' has shape {m.shape}, expected ({L}, {L})")
        chans.append(m)
    x = np.stack(chans)
    if x.shape[0] != channels:
        raise DataFormatError(f"built {x.shape[0]} channels, expected {channels}")
    return x


def distance_map(ly: int, cb: np.ndarray) -> np.ndarray:
    """ORCA's ``get_map`` clean-up: distances < 1 A -> 1; each diagonal cell from its neighbours.

    NaN (unresolved residues) stays NaN.
    """
    y = np.array(cb, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        y[y < 1.0] = 1.0
    y[0, 0] = y[0, 1]
    y[ly - 1, ly - 1] = y[ly - 1, ly - 2]
    for q in range(1, ly - 1):
        if np.isnan(y[q, q]):
            continue
        left, right = y[q, q - 1], y[q, q + 1]
        if np.isnan(left) and np.isnan(right):
            y[q, q] = 1.0
        elif np.isnan(left) or np.isnan(right):
            y[q, q] = right if np.isnan(left) else left
        else:
            y[q, q] = (left + right) / 2.0
    return y


def place(x: np.ndarray, y: np.ndarray, window: int, pad: int, pad_value: float, rng: random.Random):
    """ORCA's ``get_input_output_dist``: pad by ``pad // 2`` on each side, then top-left in a
    ``window`` square (x: 0, y: ``pad_value``) or, when longer, a random crop (independent row and
    column offsets). x (C, L, L), y (L, L) -> (C, W, W), (1, W, W)."""
    c, L = x.shape[0], x.shape[1]
    n, h = L + pad, pad // 2
    xp = np.zeros((c, n, n), np.float32)
    yp = np.full((n, n), pad_value, np.float32)
    xp[:, h:h + L, h:h + L] = x
    yp[h:h + L, h:h + L] = y
    xo = np.zeros((c, window, window), np.float32)
    yo = np.full((1, window, window), pad_value, np.float32)
    if n <= window:
        xo[:, :n, :n], yo[0, :n, :n] = xp, yp
    else:
        rx, ry = rng.randint(0, n - window), rng.randint(0, n - window)
        xo[:], yo[0] = xp[:, rx:rx + window, ry:ry + window], yp[rx:rx + window, ry:ry + window]
    return xo, yo


def _protein(arc: ProteinArchive, pid: str, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(x (C, L, L), y (L, L)) of one protein; y is NaN where the structure has no distance."""
    feat, dist = arc.find("features", f"{pid}.pkl"), arc.find("distance", f"{pid}-cb.npy")
    if feat is None or dist is None:
        raise DataFormatError(f"protein {pid}: no {'features' if feat is None else 'distance'} file in "
                              f"{arc.zip.filename} under {arc.sets}")
    x = pair_features(pickle.loads(arc.read(feat)), channels)
    ly, _seq, cb = np.load(io.BytesIO(arc.read(dist)), allow_pickle=True)
    ly, L = int(ly), x.shape[1]
    if "cameo" not in dist and (ly != L or np.shape(cb) != (L, L)):
        raise DataFormatError(f"protein {pid}: distance map for {ly} residues, features for {L}")
    y = np.full((L, L), np.nan, np.float32)
    y0 = distance_map(ly, cb)
    y[:len(y0), :len(y0)] = y0
    return x, y


def _psicov_split(h5, arc, ids, split, args, rng, clip):
    w, c = int(args["window"]), int(args["channels"])
    kw = {"compression": "lzf", "track_times": False}
    xs = h5.create_dataset(f"x_{split}", (len(ids), c, w, w), np.float32, chunks=(1, 1, w, w), **kw)
    ys = h5.create_dataset(f"y_{split}", (len(ids), 1, w, w), np.float32, chunks=(1, 1, w, w), **kw)
    lengths = np.zeros(len(ids), np.int64)
    for i, pid in enumerate(ids):
        x, y = _protein(arc, pid, c)
        lengths[i] = x.shape[1]
        xo, yo = place(x, y, w, int(args["pad"]), float(args["pad_value"]), rng)
        if clip is not None:
            with np.errstate(invalid="ignore"):
                yo[yo > clip] = clip
        xs[i], ys[i] = xo, yo
    h5.create_dataset(f"length_{split}", data=lengths, track_times=False)
    h5.create_dataset(f"id_{split}", data=np.array(ids, dtype="S"), track_times=False)


def _check_psicov(a: dict) -> None:
    if int(a["window"]) < 1 or int(a["pad"]) < 0 or int(a["channels"]) != 57:
        raise ValueError("window must be >= 1, pad >= 0 and channels 57 (the PDNet feature set)")


@register_preparer("nb360_psicov", PSICOV_DEFAULTS, ("archive",), _check_psicov)
def prepare_psicov(raw_dir: Path, out_dir: Path, args: dict) -> list[str]:
    """``protein.zip`` -> ``x_* (n, 57, W, W)``, ``y_* (n, 1, W, W)`` distance maps in A, HDF5.

    Train = the DeepCov list, test = the PSICOV list (ORCA, ``valid_split`` off). Each protein is
    padded by ``pad // 2`` residues on each side and placed top-left in a ``window`` square
    (ORCA: 512 for both); inputs are 0 and targets ``pad_value`` (100 A) outside the protein.
    Training targets are clipped at ``train_clip`` (ORCA's ``label_engineering='16.0'``). Proteins
    longer than the window get a seeded random crop (ORCA draws a new one each time). Missing
    distances stay NaN (ORCA sets them to 0). Also written: ``length_*`` (residues), ``id_*``.
    Size: 57 x W x W float32 per protein (60 MB at W = 512), stored lzf-compressed.
    """
    import h5py

    _require_pickle(args, args["archive"])
    arc = ProteinArchive(Path(raw_dir) / args["archive"], args["train_list"], list(args["sets"]))
    rng = random.Random(int(args["crop_seed"]))
    with atomic_output(Path(out_dir) / args["out"]) as tmp, h5py.File(tmp, "w") as h5:
        _psicov_split(h5, arc, arc.ids(args["train_list"]), "train", args, rng, args["train_clip"])
        _psicov_split(h5, arc, arc.ids(args["test_list"]), "test", args, rng, None)
    return [args["out"]]


# ============================================================================ Cosmic (deepCR HST ACS/WFC)
COSMIC_DEFAULTS = {
    "train_archive": "deepCR.ACS-WFC.train.tar", "test_archive": "deepCR.ACS-WFC.test.tar",
    "filter": "f435w", "fields": REQUIRED, "crop": [64, 64, 128], "ignore_value": -1.0, "out": "cosmic_prepared.npz",
}


def _cosmic_members(tar: tarfile.TarFile, filt: str, fields: set[str]) -> tuple[list, dict]:
    """Image members ``npy_<split>/<filter>/<proposal>/<visit>/<k>_*.npy`` of the wanted filter and
    fields (sorted by name), and the ``sky.npy`` member of each visit folder."""
    images, skies = [], {}
    for m in tar.getmembers():
        parts = m.name.lstrip("./").split("/")
        k = next((i for i, p in enumerate(parts) if p in ("npy_train", "npy_test")), None)
        if not m.isfile() or k is None or len(parts) != k + 5 or not parts[-1].endswith(".npy"):
            continue
        _, f, prop, visit, fname = parts[k:]
        if f != filt or f"{prop}_{visit}" not in fields:
            continue
        if fname == "sky.npy":
            skies[(prop, visit)] = m
        else:
            images.append(((prop, visit, fname), m))
    return sorted(images, key=lambda t: t[1].name), skies


def _load_member(tar: tarfile.TarFile, m) -> np.ndarray:
    return np.load(io.BytesIO(tar.extractfile(m).read()), allow_pickle=False)


def _cosmic_split(path: Path, args: dict) -> dict[str, np.ndarray]:
    top, left, size = (int(v) for v in args["crop"])
    ignore_value = np.nan if args["ignore_value"] is None else float(args["ignore_value"])
    xs, ys, sky = [], [], []
    with tarfile.open(path) as tar:
        images, skies = _cosmic_members(tar, args["filter"], set(args["fields"]))
        if not images:
            raise DataFormatError(f"{path}: no npy_*/{args['filter']}/<proposal>/<visit>/*.npy images of the "
                                  f"fields {sorted(args['fields'])[:5]}...; check prepare.args.filter and fields")
        sky_cache: dict = {}
        for (prop, visit, fname), m in images:
            a = _load_member(tar, m)
            if a.ndim != 3 or a.shape[0] not in (2, 3) or a.shape[1] < top + size or a.shape[2] < left + size:
                raise DataFormatError(f"{path}::{m.name}: shape {a.shape}, expected (2 or 3, H, W) with H >= "
                                      f"{top + size} and W >= {left + size}")
            crop = a[:, top:top + size, left:left + size].astype(np.float32)
            ignore = crop[2] if a.shape[0] == 3 else np.zeros_like(crop[0])
            xs.append(crop[0][None])
            ys.append(np.where(ignore != 0, ignore_value, crop[1]).astype(np.float32)[None])
            if (prop, visit) in skies and (prop, visit) not in sky_cache:
                sky_cache[(prop, visit)] = _load_member(tar, skies[(prop, visit)])
            s = sky_cache.get((prop, visit))
            sky.append(float(s[int(fname.split("_")[0]) - 1]) if s is not None else 0.0)
    return {"x": np.stack(xs), "y": np.stack(ys), "sky": np.asarray(sky, np.float32)}


def _check_cosmic(a: dict) -> None:
    if len(a["crop"]) != 3 or min(int(v) for v in a["crop"]) < 0 or int(a["crop"][2]) < 1:
        raise ValueError(f"crop must be [top, left, size], got {a['crop']}")
    if not a["fields"] or not all(isinstance(f, str) and "_" in f for f in a["fields"]):
        raise ValueError("fields must list '<proposal>_<visit>' names as quoted strings, e.g. '10760_2' "
                         "(unquoted, YAML reads 10760_2 as the number 107602)")


@register_preparer("nb360_cosmic", COSMIC_DEFAULTS, ("train_archive", "test_archive"), _check_cosmic)
def prepare_cosmic(raw_dir: Path, out_dir: Path, args: dict) -> list[str]:
    """deepCR tars -> ``x_* (n, 1, S, S)`` images, ``y_* (n, 1, S, S)`` cosmic-ray masks, npz.

    Per ORCA (``preprocess_cosmic.py`` + ``PairedDatasetImagePath``): images of one filter
    (f435w) and of the listed ``<proposal>_<visit>`` fields (ORCA: its 'GAL' fields), each a
    (3, H, W) stack image / CR mask / ignore mask (ignore absent in 2-plane stacks), cropped to
    ``[top:top + S, left:left + S]`` (ORCA: 64, 64, 128). y: 1 cosmic ray, 0 clean, ``ignore_value``
    (default -1; null: NaN) where the ignore mask is set (ORCA multiplies the loss by 1 - ignore).
    ``sky_*`` (n,): the frame's sky level from its visit's ``sky.npy`` (index = the file-name
    prefix - 1; 0 without one). Not done: ORCA's random sky augmentation (image + sky * U(-0.9, 3)),
    applied there to train and test alike.
    """
    out = {}
    for split in ("train", "test"):
        d = _cosmic_split(Path(raw_dir) / args[f"{split}_archive"], args)
        out.update({f"x_{split}": d["x"], f"y_{split}": d["y"], f"sky_{split}": d["sky"]})
    save_npz(Path(out_dir) / args["out"], out)
    return [args["out"]]
