"""Preparation steps: raw downloaded files -> the prepared files a task's loader reads.

A task file may carry ``prepare:``::

    prepare:
      step: nb360_ecg                 # a step registered here (``PREPARERS``)
      root: nb360/ecg                 # folder under the data folder (default: data.args.root)
      files: [{name, urls, md5 | sha256, size, note}]   # the raw inputs, fetched like data.args.download
      args: {...}                     # the step's arguments (checked when the task file is loaded)

:func:`run_prepare` fetches the raw files (:func:`orca.data.download.fetching.ensure_files`), runs the step,
which writes its outputs under ``<data_dir>/<root>/``, and records what went in and came out in
``<data_dir>/<root>/<task>.prepare.json`` (sizes and sha256 of every input and output file, shape,
dtype and sha256 of every array). A second run with the same step, args and raw files does nothing.
Steps live in their own modules (``drug_response``, ``nb360_raw``) and register with
:func:`register_preparer`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...runtime.process import atomic_output, atomic_write_json
from ..download.fetching import ensure_files, file_digest, manifest_entries

PREPARE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Preparer:
    """One registered step: ``fn(raw_dir, out_dir, args) -> [output file names]``.

    ``defaults``: every allowed arg with its default (``REQUIRED`` marks args without one);
    ``file_args``: args whose value names a raw file (or a list of them), checked against ``files``;
    ``check(args)``: raises ValueError for bad values (called when the task file is loaded).
    """

    name: str
    fn: Callable[[Path, Path, dict], list[str]]
    defaults: dict
    file_args: tuple[str, ...] = field(default=())
    check: Callable[[dict], None] | None = None
    doc: str = ""


REQUIRED = object()
PREPARERS: dict[str, Preparer] = {}


def register_preparer(name: str, defaults: dict, file_args: tuple[str, ...] = (),
                      check: Callable[[dict], None] | None = None):
    """Decorator registering a preparation step under ``name``."""

    def deco(fn):
        if name in PREPARERS and PREPARERS[name].fn is not fn:
            raise ValueError(f"preparation step {name!r} registered twice")
        PREPARERS[name] = Preparer(name, fn, dict(defaults), tuple(file_args), check, (fn.__doc__ or "").strip())
        return fn

    return deco


# ----------------------------------------------------------------------------- validation
def resolve_args(prepare: dict) -> dict:
    """The step's args with defaults filled; unknown, missing or undeclared-file args -> ValueError."""
    step = prepare.get("step")
    if step not in PREPARERS:
        raise ValueError(f"unknown preparation step {step!r}; allowed: {', '.join(sorted(PREPARERS))}")
    p = PREPARERS[step]
    args = dict(prepare.get("args") or {})
    unknown = sorted(set(args) - set(p.defaults))
    if unknown:
        raise ValueError(f"prepare step {step!r}: unknown args {unknown}; allowed: {sorted(p.defaults)}")
    out = {k: v for k, v in p.defaults.items() if v is not REQUIRED}
    out.update(args)
    missing = sorted(k for k in p.defaults if k not in out)
    if missing:
        raise ValueError(f"prepare step {step!r}: args {missing} are required")
    declared = set(manifest_entries(prepare.get("files")))
    for key in p.file_args:
        names = out[key] if isinstance(out[key], (list, tuple)) else [out[key]]
        for name in names:
            if name is not None and name not in declared:
                raise ValueError(f"prepare step {step!r}: args.{key} names {name!r}, which is not in "
                                 f"prepare.files ({sorted(declared)}); list it there with its URL or a note")
    if p.check is not None:
        try:
            p.check(out)
        except (TypeError, KeyError, ValueError) as e:
            raise ValueError(f"prepare step {step!r}: {e}") from None
    return out


def check_prepare(prepare: dict) -> None:
    """Validate a task file's ``prepare`` section (step, args, raw-file manifest); ValueError if bad."""
    manifest_entries(prepare.get("files"))
    resolve_args(prepare)


# ----------------------------------------------------------------------------- checksums, writing
def sha256_array(a: np.ndarray) -> str:
    """sha256 of dtype, shape and bytes: the same for equal arrays whatever file holds them."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    return h.hexdigest()


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (.npz, no pickles) atomically."""
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def array_digests(path: Path) -> dict:
    """{name: {shape, dtype, sha256}} for every array in an .npz / .npy / HDF5 output (else {})."""
    name = path.name.lower()
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return {k: _digest(z[k]) for k in z.files}
    if name.endswith(".npy"):
        return {"": _digest(np.load(path, allow_pickle=False))}
    if name.endswith((".h5", ".hdf5")):
        import h5py

        out: dict = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda k, obj: out.__setitem__(k, _digest_h5(obj)) if isinstance(obj, h5py.Dataset) else None)
        return out
    return {}


def _digest(a: np.ndarray) -> dict:
    return {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": sha256_array(a)}


def _digest_h5(ds) -> dict:
    """Digest of an HDF5 dataset read in row blocks (prepared datasets can exceed memory)."""
    h = hashlib.sha256(f"{ds.dtype.str}{ds.shape}".encode())
    step = max(1, (64 << 20) // max(1, ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64))))
    for i in range(0, ds.shape[0] if ds.ndim else 1, step):
        block = ds[i:i + step] if ds.ndim else ds[()]
        h.update(np.ascontiguousarray(block).tobytes())
    return {"shape": list(ds.shape), "dtype": ds.dtype.str, "sha256": h.hexdigest()}


# ----------------------------------------------------------------------------- running
def prepare_root(prepare: dict, data_args: dict | None, data_dir: Path) -> Path:
    """``<data_dir>/<prepare.root or data.args.root>``: where raw inputs and prepared outputs live."""
    root = prepare.get("root") or (data_args or {}).get("root") or "."
    root = Path(root)
    return root if root.is_absolute() else Path(data_dir) / root


def provenance_path(root: Path, task: str) -> Path:
    return Path(root) / f"{task}.prepare.json"


def _stat(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _up_to_date(prov_path: Path, step: str, args: dict, root: Path, raw_names: list[str]) -> dict | None:
    """The recorded provenance when step, args, raw files and outputs are unchanged, else None."""
    if not prov_path.is_file():
        return None
    try:
        prov = json.loads(prov_path.read_text())
    except (OSError, ValueError):
        return None
    if prov.get("version") != PREPARE_FORMAT_VERSION or prov.get("step") != step or prov.get("args") != args:
        return None
    recorded = {e["name"]: e for e in prov.get("inputs", []) + prov.get("outputs", [])}
    names = raw_names + [e["name"] for e in prov.get("outputs", [])]
    for name in names:
        p, e = root / name, recorded.get(name)
        if e is None or not p.is_file() or _stat(p) != {"size": e["size"], "mtime_ns": e["mtime_ns"]}:
            return None
    return prov


def run_prepare(task: str, prepare: dict, data_dir: Path, data_args: dict | None = None,
                force: bool = False, log: Callable[[str], None] = print) -> dict:
    """Fetch the raw files of ``prepare``, run its step, write and return the provenance record.

    ``task``: the task name (names the provenance file); ``data_args``: the task's ``data.args``
    (their ``root`` is the default folder). Up to date (same step, args, raw and output files) ->
    the recorded provenance is returned without running anything, unless ``force``.
    """
    check_prepare(prepare)
    step, args = prepare["step"], resolve_args(prepare)
    root = prepare_root(prepare, data_args, data_dir)
    raw_names = list(manifest_entries(prepare["files"]))
    ensure_files(raw_names, root, prepare["files"])
    prov_path = provenance_path(root, task)
    if not force:
        prov = _up_to_date(prov_path, step, args, root, raw_names)
        if prov is not None:
            log(f"prepare {task}: up to date ({prov_path})")
            return prov
    log(f"prepare {task}: step {step} on {', '.join(raw_names)} in {root}")
    t0 = time.time()
    outputs = PREPARERS[step].fn(root, root, args)
    prov = {
        "version": PREPARE_FORMAT_VERSION, "task": task, "step": step, "args": args,
        "root": str(root), "seconds": round(time.time() - t0, 3),
        "inputs": [{"name": n, **_stat(root / n), "sha256": file_digest(root / n)} for n in raw_names],
        "outputs": [{"name": n, **_stat(root / n), "sha256": file_digest(root / n),
                     "arrays": array_digests(root / n)} for n in outputs],
    }
    atomic_write_json(prov_path, prov)
    log(f"prepare {task}: wrote {', '.join(outputs)} and {prov_path.name} ({prov['seconds']:.1f} s)")
    return prov


def prepare_task(task, data_dir: Path, done: Path | None = None, force: bool = False) -> dict:
    """Run the ``prepare:`` step of ``task`` (a loaded :class:`orca.spec.tasks.Task`); return its provenance record,
    also written to ``done`` (the workflow's stamp) when given."""
    if task.prepare is None:
        raise ValueError(f"{task.path}: task {task.name!r} has no prepare: section; nothing to prepare")
    prov = run_prepare(task.name, task.prepare.mapping(), Path(data_dir), task.data.args, force=force)
    if done is not None:
        atomic_write_json(done, prov)
    return prov
