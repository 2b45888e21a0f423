"""Container files the ``arrays`` loader reads, written from ``{key: array}``: npy, npz, pickle,
gzip-pickle, mat, hdf5, and members of a tar archive (each member in its own format).

Keys with ``/`` become nested dicts (pickles, pickled .npy) or HDF5 groups.
"""
from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from ..runtime.process import atomic_write_bytes


def _nested(arrays: dict) -> dict:
    out: dict = {}
    for key, arr in arrays.items():
        node = out
        parts = key.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = arr
    return out


def container_bytes(fmt: str, arrays: dict) -> bytes:
    """The bytes of one container of format ``fmt`` holding ``arrays`` ({key or None: array})."""
    buf = io.BytesIO()
    if fmt == "npy":
        if list(arrays) == [None]:
            np.save(buf, arrays[None])
        else:
            np.save(buf, np.array(_nested(arrays), dtype=object), allow_pickle=True)
    elif fmt == "npz":
        np.savez(buf, **arrays)
    elif fmt == "pickle":
        pickle.dump(_nested(arrays), buf, protocol=2)
    elif fmt == "gzip-pickle":
        with gzip.GzipFile(fileobj=buf, mode="wb") as g:
            pickle.dump(_nested(arrays), g, protocol=2)
    elif fmt == "mat":
        import scipy.io

        scipy.io.savemat(buf, arrays)
    elif fmt == "hdf5":
        import h5py

        with h5py.File(buf, "w") as f:
            for key, arr in arrays.items():
                f.create_dataset(key, data=arr)
    else:
        raise ValueError(f"no stand-in container writer for format {fmt!r}")
    return buf.getvalue()


def write_container(path: Path, fmt: str, arrays: dict) -> Path:
    atomic_write_bytes(path, container_bytes(fmt, arrays))
    return path


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    """A tar archive (gzip-compressed when the name ends in .gz / .tgz) with ``members`` {name: bytes}."""
    buf = io.BytesIO()
    mode = "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    atomic_write_bytes(path, buf.getvalue())
    return path
