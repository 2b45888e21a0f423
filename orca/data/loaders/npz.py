"""``npz`` loader: a generic user format of pre-split numpy arrays.

``args.path`` is either one ``.npz`` file (``keys`` maps each field to an array
name inside it) or a folder of ``.npy`` files (``keys`` maps each field to a
file name). Relative paths are under ``data_dir``. Arrays are read without
pickle support.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..core import DataFormatError, DataUnavailableError, TaskData, check_args, register_loader

FIELDS = ("x_train", "y_train", "x_test", "y_test")
DEFAULT_ARGS = {"path": None, "keys": None, "info": None}


def _resolve(args: dict, data_dir: Path) -> tuple[Path, dict[str, str]]:
    a = check_args("npz", args, DEFAULT_ARGS)
    if not a["path"]:
        raise ValueError("loader 'npz' needs args.path (an .npz file or a folder of .npy files)")
    p = Path(a["path"])
    p = p if p.is_absolute() else Path(data_dir) / p
    keys = dict(a["keys"] or {})
    bad = sorted(set(keys) - set(FIELDS))
    if bad:
        raise ValueError(f"loader 'npz': unknown keys {bad}; allowed: {list(FIELDS)}")
    is_dir = p.is_dir() or (not p.exists() and p.suffix == "")
    for f in FIELDS:
        keys.setdefault(f, f"{f}.npy" if is_dir else f)
    return p, keys


def _files(p: Path, keys: dict[str, str]) -> list[Path]:
    return [p / keys[f] for f in FIELDS] if p.is_dir() else [p]


def fetch_npz(args: dict, data_dir: Path) -> None:
    """User-provided data: checks that the files exist."""
    p, keys = _resolve(args, data_dir)
    for f in _files(p, keys) if p.exists() else [p]:
        if not f.is_file():
            raise DataUnavailableError(
                f"npz loader: file {f} not found. This is user-provided data: place the "
                f"arrays {list(FIELDS)} there (one .npz, or one .npy each in a folder) "
                f"and point args.path at it (relative paths are under {data_dir})."
            )


def _fingerprint(args: dict, data_dir: Path) -> list:
    p, keys = _resolve(args, data_dir)
    return [[os.stat(f).st_size, os.stat(f).st_mtime_ns] for f in _files(p, keys) if f.is_file()]


def _read(p: Path, keys: dict[str, str]) -> dict[str, np.ndarray]:
    out = {}
    try:
        if p.is_dir():
            for f in FIELDS:
                out[f] = np.load(p / keys[f], allow_pickle=False)
        else:
            with np.load(p, allow_pickle=False) as z:
                missing = [keys[f] for f in FIELDS if keys[f] not in z.files]
                if missing:
                    raise DataFormatError(f"{p} lacks arrays {missing}; it has {z.files}")
                out = {f: z[keys[f]] for f in FIELDS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        if isinstance(e, DataFormatError):
            raise
        raise DataFormatError(f"npz loader: cannot read {p}: {type(e).__name__}: {e}") from e
    return out


def _as_x(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x[:, None, :] if x.ndim == 2 else x


def _as_y(y: np.ndarray) -> np.ndarray:
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        return y.astype(np.int64)
    y = y.astype(np.float32)
    return y[:, None] if y.ndim == 1 else y


@register_loader("npz", fetch=fetch_npz, fingerprint=_fingerprint)
def load_npz(args: dict, seed: int, data_dir: Path) -> TaskData:
    """Pre-split arrays -> TaskData. x (N, L) gains a channel axis -> (N, 1, L);
    integer y -> int64 class ids, float y -> float32 (N, K). Seed unused."""
    p, keys = _resolve(args, data_dir)
    arr = _read(p, keys)
    xtr, xte = _as_x(arr["x_train"]), _as_x(arr["x_test"])
    ytr, yte = _as_y(arr["y_train"]), _as_y(arr["y_test"])
    if xtr.ndim < 3 or xtr.shape[1:] != xte.shape[1:]:
        raise DataFormatError(f"npz loader: x shapes {xtr.shape} / {xte.shape} are not (N, C, ...) alike")
    info = {"source": f"npz:{p}"}
    if ytr.dtype == np.int64 and ytr.ndim == 1:
        info.update(task="classification", num_classes=int(max(ytr.max(), yte.max()) + 1))
    info.update(dict(args.get("info") or {}))
    try:
        return TaskData(xtr, ytr, xte, yte, info)
    except ValueError as e:
        raise DataFormatError(f"npz loader, {p}: {e}") from e
