"""Where the out-of-core inputs of an ``arrays`` spec are read from (``data.args.lazy_inputs: true``).

:func:`open_rows` turns one array spec (``{file, key, format, encoding}``; see orca/data/loaders/arrays.py)
into a :class:`~orca.data.loaders.lazy.RowSource` without loading the array:

* HDF5 dataset: read in place (h5py row selections).
* plain ``.npy``: memory-mapped in place.
* ``.npz`` member: a stored (uncompressed) member is memory-mapped in place inside the archive; a deflated
  one cannot be, so it is decompressed once, streamed in blocks of ``COPY_BYTES``, to an uncompressed copy
  under ``<data_dir>/lazy/`` and that copy is memory-mapped.
* anything else (pickles, gzip-pickles, MATLAB files, tar members, ``.npy`` files holding a pickled dict):
  these formats cannot be read in parts, so the array is read once as stored (the peak of that one
  array, as stored: e.g. uint8 CIFAR pixels, not float32) and written as an uncompressed copy under
  ``<data_dir>/lazy/``, which later loads memory-map.

A copy's name carries the source file's size and modification time, so a changed source file gets a new
copy; ``<data_dir>/lazy/`` can be deleted at any time (copies are made again when needed).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np

from ...runtime.process import atomic_output
from ..core import DataFormatError
from .array_files import locate, read_array
from .lazy import Hdf5Source, NpySource, RowSource, read_npy_header

COPY_BYTES = 16 << 20  # block size of streamed copies (npz members)
LAZY_FOLDER = "lazy"  # under data_dir: uncompressed copies of inputs read out of core


def open_rows(spec: dict, root: Path, data_dir: Path, allow_pickle: bool) -> RowSource:
    """The raw rows of ``spec`` (before its slice / reshape / transpose) as a row source (see the module
    docstring); DataUnavailableError when the file is missing, DataFormatError when it cannot be read."""
    path, inner, where, fmt = locate(spec, root)
    try:
        if not inner and fmt == "hdf5":
            return Hdf5Source(path, spec.get("key"))
        if not inner and fmt == "npy" and not spec.get("key"):
            return NpySource.at(path)
        if not inner and fmt == "npz":
            return npz_member(path, spec.get("key"), Path(data_dir) / LAZY_FOLDER)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        if isinstance(e, DataFormatError):
            raise
        raise DataFormatError(f"arrays loader (lazy_inputs): cannot read {where} out of core: {e}") from e
    return converted(spec, root, Path(data_dir) / LAZY_FOLDER, allow_pickle)


# ----------------------------------------------------------------------------- npz members
def npz_member(path: Path, key: str | None, cache: Path) -> NpySource:
    """Array ``key`` of the npz ``path``: mapped in place when stored, else from a decompressed copy in ``cache``."""
    with zipfile.ZipFile(path) as z:
        names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
        if key not in names:
            raise DataFormatError(f"{path}: no array {key!r}; it has {names}")
        info = z.getinfo(f"{key}.npy")
    if info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
        src = NpySource.at(path, _member_data_offset(path, info))
    else:
        src = NpySource.at(_extracted(path, info, cache))
    if src.dtype.kind not in "biuf":
        raise DataFormatError(f"{path}[{key}]: holds {src.dtype}, not numbers")
    return src


def _member_data_offset(path: Path, info: zipfile.ZipInfo) -> int:
    """Byte offset of a zip member's data: after its local header (30 bytes, name and extra field)."""
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        head = fh.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise DataFormatError(f"{path}: member {info.filename!r} has no local zip header; the file is damaged")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _extracted(path: Path, info: zipfile.ZipInfo, cache: Path) -> Path:
    """A deflated npz member decompressed (streamed, ``COPY_BYTES`` at a time) to ``cache``; made once."""
    target = cache / _copy_name(path, info.filename, "npz")
    if _complete(target):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path) as z, z.open(info) as src, atomic_output(target) as tmp, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, COPY_BYTES)
    return target


# ----------------------------------------------------------------------------- formats read whole
def converted(spec: dict, root: Path, cache: Path, allow_pickle: bool) -> NpySource:
    """The array of ``spec`` (read once as stored, without its slice / reshape / transpose) as an npy copy
    in ``cache``; later calls map the copy."""
    raw = {k: spec[k] for k in ("file", "key", "format", "encoding") if spec.get(k) is not None}
    outer = root / spec["file"].partition("::")[0]
    target = cache / _copy_name(outer, json.dumps(raw, sort_keys=True), "conv")
    if not _complete(target):
        arr = read_array(raw, root, allow_pickle)
        if arr.dtype.kind not in "biuf" or arr.ndim < 2:
            raise DataFormatError(f"arrays loader (lazy_inputs): {spec['file']}[{spec.get('key')}] holds "
                                  f"{arr.dtype} {arr.shape}, not a numeric array of samples")
        cache.mkdir(parents=True, exist_ok=True)
        with atomic_output(target) as tmp, open(tmp, "wb") as out:
            np.save(out, np.ascontiguousarray(arr))
        del arr
    return NpySource.at(target)


def _copy_name(path: Path, what: str, tag: str) -> str:
    """``<file stem>-<tag>-<12 hex>.npy``: the hash covers the file's resolved path, size, mtime and ``what``."""
    st = os.stat(path)
    ident = json.dumps([str(Path(path).resolve()), st.st_size, st.st_mtime_ns, what])
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).name)[:60]
    return f"{stem}-{tag}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}.npy"


def _complete(path: Path) -> bool:
    """True when ``path`` is an npy file whose data are all there (copies are written atomically; this also
    catches one truncated later)."""
    if not path.is_file():
        return False
    try:
        NpySource.at(path)
    except (OSError, ValueError):
        return False
    return True


__all__ = ["COPY_BYTES", "LAZY_FOLDER", "converted", "npz_member", "open_rows", "read_npy_header"]
