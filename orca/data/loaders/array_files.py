"""Reading one array from a container file for the ``arrays`` loader: npy, npz, (gzip-)pickle, MATLAB .mat
(v5 and v7.3/HDF5) and HDF5, optionally inside a zip/tar archive (``outer::inner``), then sliced, reshaped
and transposed as the spec says (keys: ``SPEC_KEYS``; see orca/data/loaders/arrays.py for the args).
"""
from __future__ import annotations

import gzip
import io
import pickle
import re
import tarfile
from pathlib import Path

import numpy as np

from ..core import DataFormatError, DataUnavailableError

FORMATS = ("npy", "npz", "pickle", "gzip-pickle", "mat", "hdf5")
_SLICE_RE = re.compile(r"^\s*-?\d*\s*(:\s*-?\d*\s*(:\s*-?\d*\s*)?)?$")


def detect_format(name: str) -> str:
    n = name.lower()
    if n.endswith(".npy"):
        return "npy"
    if n.endswith(".npz"):
        return "npz"
    if n.endswith((".pkl", ".pickle")):
        return "pickle"
    if n.endswith(".gz"):
        return "gzip-pickle"
    if n.endswith(".mat"):
        return "mat"
    if n.endswith((".h5", ".hdf5", ".he5")):
        return "hdf5"
    raise ValueError(f"loader 'arrays': cannot tell the format of {name!r} from its name; "
                     f"set format: one of {', '.join(FORMATS)}")


def parse_slice(text: str | None) -> tuple:
    """``":1000, ::5, ::5"`` -> (slice(None, 1000), slice(None, None, 5), ...); ints and ... allowed."""
    if text is None or str(text).strip() == "":
        return ()
    out: list = []
    for part in str(text).split(","):
        part = part.strip()
        if part == "...":
            out.append(Ellipsis)
            continue
        if not _SLICE_RE.match(part):
            raise ValueError(f"bad slice component {part!r} in {text!r}; use integers, ':' and '...'")
        if ":" not in part:
            out.append(int(part))
            continue
        bits = [b.strip() for b in part.split(":")]
        out.append(slice(*[int(b) if b else None for b in bits]))
    return tuple(out)


def _dig(obj, key: str | None, where: str):
    if not key:
        return obj
    for k in key.split("/"):
        if isinstance(obj, dict):
            cand = [c for c in obj if c == k or (isinstance(c, bytes) and c.decode("latin1") == k)]
            if not cand:
                raise DataFormatError(f"{where}: no key {k!r}; it has {[str(c) for c in list(obj)[:20]]}")
            obj = obj[cand[0]]
        else:
            raise DataFormatError(f"{where}: cannot look up {k!r} in a {type(obj).__name__}")
    return obj


def _unpickle(fh, encoding: str | None, allow: bool, where: str):
    if not allow:
        raise DataFormatError(f"{where} is a pickle; pickles can run code when read, so the task must "
                              "set allow_pickle: true (only for files from a trusted source with a checksum)")
    return pickle.load(fh, encoding=encoding or "ASCII")


def _read_stream(fh, fmt: str, spec: dict, allow_pickle: bool, where: str):
    key = spec.get("key")
    if fmt == "npy":
        arr = np.load(fh, allow_pickle=allow_pickle)
        if arr.dtype == object and arr.shape == ():
            arr = arr.item()
        return _dig(arr, key, where)
    if fmt == "npz":
        with np.load(fh, allow_pickle=allow_pickle) as z:
            if key not in z.files:
                raise DataFormatError(f"{where}: no array {key!r}; it has {z.files}")
            return z[key]
    if fmt == "pickle":
        return _dig(_unpickle(fh, spec.get("encoding"), allow_pickle, where), key, where)
    if fmt == "gzip-pickle":
        with gzip.GzipFile(fileobj=fh) as g:
            return _dig(_unpickle(g, spec.get("encoding"), allow_pickle, where), key, where)
    if fmt == "mat":
        import scipy.io

        try:
            m = scipy.io.loadmat(fh, variable_names=[key] if key else None)
        except NotImplementedError:  # MATLAB v7.3 = HDF5; h5py stores it transposed
            return _read_hdf5(fh, key, where, matlab=True)
        if key not in m:
            raise DataFormatError(f"{where}: no variable {key!r}; it has {[k for k in m if not k.startswith('__')]}")
        return m[key]
    if fmt == "hdf5":
        return _read_hdf5(fh, key, where)
    raise ValueError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")


def _read_hdf5(fh, key: str | None, where: str, matlab: bool = False):
    import h5py

    if hasattr(fh, "seek"):
        fh.seek(0)
    with h5py.File(fh, "r") as f:
        if not key or key not in f:
            raise DataFormatError(f"{where}: no dataset {key!r}; it has {sorted(f.keys())}")
        arr = f[key][()]
    return np.transpose(arr) if matlab else arr


def locate(spec: dict, root: Path) -> tuple[Path, str, str, str]:
    """(file path, member inside it or "", a name for messages, format) of array ``spec`` under ``root``;
    DataUnavailableError when the file is missing."""
    outer, _, inner = spec["file"].partition("::")
    path = root / outer
    where = f"{path}{'::' + inner if inner else ''}{'[' + spec['key'] + ']' if spec.get('key') else ''}"
    if not path.is_file():
        raise DataUnavailableError(f"arrays loader: {path} not found; run `orca fetch` for this task first")
    return path, inner, where, spec.get("format") or detect_format(inner or outer)


def read_array(spec: dict, root: Path, allow_pickle: bool) -> np.ndarray:
    """Read one array described by ``spec`` from files under ``root``."""
    path, inner, where, fmt = locate(spec, root)
    try:
        if inner:
            with tarfile.open(path) as tar:
                try:
                    member = tar.extractfile(inner)
                except KeyError:
                    raise DataFormatError(f"{path}: archive has no member {inner!r}") from None
                data = io.BytesIO(member.read())
            value = _read_stream(data, fmt, spec, allow_pickle, where)
        else:
            with open(path, "rb") as fh:
                value = _read_stream(fh, fmt, spec, allow_pickle, where)
    except DataFormatError:
        raise
    except (OSError, ValueError, EOFError, KeyError, pickle.UnpicklingError, tarfile.TarError) as e:
        raise DataFormatError(f"arrays loader: cannot read {where} as {fmt}: {type(e).__name__}: {e}") from e
    try:
        arr = np.asarray(value)
    except ValueError as e:  # ragged lists
        raise DataFormatError(f"{where}: not a rectangular array ({e})") from e
    if arr.dtype == object:
        raise DataFormatError(f"{where}: holds Python objects (dtype object), not a numeric array; "
                              "point 'key' at the array inside")
    idx = parse_slice(spec.get("slice"))
    if idx:
        arr = arr[idx]
    if spec.get("reshape") is not None:
        arr = arr.reshape([int(v) for v in spec["reshape"]])
    if spec.get("transpose") is not None:
        arr = np.transpose(arr, spec["transpose"])
    return arr


# ----------------------------------------------------------------------------- transforms
