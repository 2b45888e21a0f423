"""FSD50K for NAS-Bench-360 / ORCA: 1-s audio chunks -> log-mel spectrograms (``nb360_fsd50k`` step).

Raw layout (the chunk recipe of github.com/SarthakYadav/fsd50k-pytorch, which NAS-Bench-360's and
ORCA's ``SpectrogramDataset`` / ``FSD50kEvalDataset`` read):

* chunk wavs ``<clip id>_<k:04d>.wav``: 22,050 Hz PCM-16 mono, 1 s each (clips cut every 0.5 s,
  short pieces tiled to 1 s);
* manifests ``tr.csv`` (training), ``val.csv``, ``eval.csv`` (test): columns ``files`` (path of
  the chunk; absolute paths of the machine that made them), ``labels`` (comma-separated label
  names), ``ext`` (clip id);
* ``lbl_map.json``: {label name: class index}, 200 classes.

Chunks are looked up in the archive by file name, so the manifests' absolute paths do not matter.
Features (``AudioParser(feature='melspectrogram')``): power mel spectrogram (n_fft 1920, window
661 = 0.03 s, hop 220 = 0.01 s, 96 HTK mel bands, Hann window, centred with reflect padding),
``10 log10(max(S, 1e-10))`` clipped at 80 dB below its maximum, plus 75, minus its mean; a 1-s
chunk gives 101 frames, padded on the right to ``frames`` with the spectrogram's minimum
(``PadToSize``).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ...runtime.process import atomic_output
from ..core import DataFormatError
from .prepare import REQUIRED, register_preparer

FSD_DEFAULTS = {
    "archive": REQUIRED, "out": "fsd50k_features.h5",
    "train_manifest": "tr.csv", "test_manifest": "eval.csv", "label_map": "lbl_map.json",
    "sample_rate": 22050, "n_fft": 1920, "win_length": 661, "hop_length": 220, "n_mels": 96,
    "top_db": 80.0, "offset_db": 75.0, "frames": 102, "min_duration": 1.0,
    "train_chunks": "one_per_clip", "seed": 0,
}


# ----------------------------------------------------------------------------- features
def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int) -> np.ndarray:
    """(n_freqs, n_mels) triangular HTK filters on 0 .. sample_rate // 2, unnormalised."""
    all_freqs = np.linspace(0, sample_rate // 2, n_freqs)
    f_pts = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(float(sample_rate // 2)), n_mels + 2))
    f_diff = np.diff(f_pts)
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)


def log_mel(audio: np.ndarray, a: dict, fb: np.ndarray) -> np.ndarray:
    """One chunk (samples,) -> (n_mels, frames) float32 features (see the module docstring)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    spec = torch.stft(x, n_fft=a["n_fft"], hop_length=a["hop_length"], win_length=a["win_length"],
                      window=torch.hann_window(a["win_length"]), center=True, pad_mode="reflect",
                      normalized=False, onesided=True, return_complex=True).abs().pow(2.0).numpy()
    mel = fb.T @ spec
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - float(a["top_db"])).astype(np.float32) + np.float32(a["offset_db"])
    db -= db.mean()
    return pad_frames(db, int(a["frames"]))


def pad_frames(spec: np.ndarray, frames: int) -> np.ndarray:
    """Pad (F, T) to ``frames`` columns with its minimum, ``(frames - T) // 2`` on the left."""
    t = spec.shape[1]
    if t > frames:
        raise DataFormatError(f"a chunk gives {t} frames, more than frames={frames}; chunks must be 1 s")
    left = (frames - t) // 2
    return np.pad(spec, ((0, 0), (left, frames - t - left)), constant_values=spec.min())


def read_wav(data: bytes, sample_rate: int, min_duration: float, where: str) -> np.ndarray:
    """PCM wav bytes -> float32 samples in [-1, 1), tiled to ``min_duration`` s when shorter."""
    from scipy.io import wavfile

    sr, x = wavfile.read(io.BytesIO(data))
    if sr != sample_rate:
        raise DataFormatError(f"{where}: sample rate {sr} Hz, expected {sample_rate}")
    if x.ndim != 1:
        raise DataFormatError(f"{where}: {x.shape[1]} channels, expected mono")
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
    need = int(sample_rate * min_duration)
    if len(x) < need:
        x = np.tile(x, need // len(x) + 1)[:need]
    return x


# ----------------------------------------------------------------------------- archive
class ChunkArchive:
    """The audio archive: manifests, label map and chunk wavs found by file name."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.zip = zipfile.ZipFile(path)
        self.by_name: dict[str, list[str]] = {}
        for n in self.zip.namelist():
            if not n.endswith("/"):
                self.by_name.setdefault(n.rsplit("/", 1)[-1], []).append(n)

    def member(self, name: str) -> str:
        hits = self.by_name.get(name.rsplit("/", 1)[-1], [])
        if len(hits) != 1:
            raise DataFormatError(f"{self.path}: {'no' if not hits else len(hits)} members named "
                                  f"{name.rsplit('/', 1)[-1]!r}; expected exactly one")
        return hits[0]

    def read(self, name: str) -> bytes:
        return self.zip.read(self.member(name))


def read_manifest(arc: ChunkArchive, name: str):
    import pandas as pd

    df = pd.read_csv(io.BytesIO(arc.read(name)), dtype=str, keep_default_na=False)
    missing = {"files", "labels", "ext"} - set(df.columns)
    if missing:
        raise DataFormatError(f"{arc.path}::{name}: no columns {sorted(missing)}; it has {list(df.columns)}")
    return df


def multi_hot(labels: str, lbl_map: dict[str, int], where: str) -> np.ndarray:
    y = np.zeros(len(lbl_map), np.float32)
    for lbl in labels.split(","):
        if lbl not in lbl_map:
            raise DataFormatError(f"{where}: label {lbl!r} is not in the label map")
        y[lbl_map[lbl]] = 1.0
    return y


def choose_rows(df, how: str, seed: int) -> np.ndarray:
    """Manifest rows to use: every chunk (``all``) or one seeded random chunk per clip
    (``one_per_clip``: what ORCA's ``load_fsd`` materialises once for training)."""
    if how == "all":
        return np.arange(len(df))
    if how != "one_per_clip":
        raise ValueError(f"train_chunks must be 'one_per_clip' or 'all', got {how!r}")
    rng = np.random.default_rng(int(seed))
    groups = df.groupby("ext", sort=True).indices
    return np.array([rng.choice(groups[k]) for k in sorted(groups)], dtype=np.int64)


def _write_split(h5, arc, df, rows, split, a, fb, lbl_map):
    n, f = len(rows), int(a["n_mels"])
    kw = {"track_times": False}
    xs = h5.create_dataset(f"x_{split}", (n, 1, f, int(a["frames"])), np.float32,
                           chunks=(min(n, 256), 1, f, int(a["frames"])), **kw)
    ys = np.zeros((n, len(lbl_map)), np.float32)
    for i, r in enumerate(rows):
        where = f"{arc.path}::{df['files'].iat[r]}"
        audio = read_wav(arc.read(df["files"].iat[r]), int(a["sample_rate"]), float(a["min_duration"]), where)
        xs[i, 0] = log_mel(audio, a, fb)
        ys[i] = multi_hot(df["labels"].iat[r], lbl_map, where)
    h5.create_dataset(f"y_{split}", data=ys, **kw)
    h5.create_dataset(f"clip_ids_{split}", data=clip_ids(df["ext"].to_numpy()[rows], arc.path), **kw)


def clip_ids(ext: np.ndarray, where) -> np.ndarray:
    """The manifests' clip ids (``ext``, FSD50K's numeric file names) as int64."""
    try:
        return np.array([int(e) for e in ext], dtype=np.int64)
    except ValueError as e:
        raise DataFormatError(f"{where}: clip ids in the manifests' 'ext' column must be integers ({e})") from None


def _check_fsd(a: dict) -> None:
    if a["train_chunks"] not in ("one_per_clip", "all"):
        raise ValueError(f"train_chunks must be 'one_per_clip' or 'all', got {a['train_chunks']!r}")
    if int(a["win_length"]) > int(a["n_fft"]) or int(a["frames"]) < 1:
        raise ValueError("win_length must be <= n_fft and frames >= 1")


@register_preparer("nb360_fsd50k", FSD_DEFAULTS, ("archive",), _check_fsd)
def prepare_fsd50k(raw_dir: Path, out_dir: Path, args: dict) -> list[str]:
    """Audio archive -> ``x_* (n, 1, 96, frames)``, ``y_* (n, 200)`` multi-hot, HDF5.

    Train: ``train_manifest`` chunks, by default one seeded random chunk per clip (ORCA draws one
    per clip, once); test: every chunk of ``test_manifest``. ``clip_ids_test`` / ``clip_ids_train``
    (n,) int64 name each chunk's clip, for clip-level scores (mean of the chunk predictions per clip,
    as ORCA evaluates; the task file's ``eval.group_by``). Not done: ORCA's training augmentation (background
    noise from MUSAN with p = 0.75, SpecAugment with p = 0.5, wrap padding).
    """
    import h5py

    a = dict(args)
    arc = ChunkArchive(Path(raw_dir) / a["archive"])
    lbl_map = {str(k): int(v) for k, v in json.loads(arc.read(a["label_map"])).items()}
    n_freqs = int(a["n_fft"]) // 2 + 1
    fb = mel_filterbank(n_freqs, int(a["n_mels"]), int(a["sample_rate"]))
    train, test = read_manifest(arc, a["train_manifest"]), read_manifest(arc, a["test_manifest"])
    with atomic_output(Path(out_dir) / a["out"]) as tmp, h5py.File(tmp, "w") as h5:
        _write_split(h5, arc, train, choose_rows(train, a["train_chunks"], a["seed"]), "train", a, fb, lbl_map)
        _write_split(h5, arc, test, np.arange(len(test)), "test", a, fb, lbl_map)
    return [a["out"]]
