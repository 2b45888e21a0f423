"""``pdebench_hdf5`` loader: PDEBench HDF5 files -> the ORCA PDE task u(t_in) -> u(t_out).

Two on-disk layouts of the released PDEBench files are read with h5py:

* ``arrays``: top-level datasets, one per field, each (N, T, *space), e.g. ``tensor`` in the
  1D Advection / Burgers / Reaction-Diffusion files, ``density``/``pressure``/``Vx`` in the
  compressible-CFD files. Datasets without a time axis (Darcy: ``nu`` (N, H, W), ``tensor``
  (N, 1, H, W)) are read with ``time_axis: false``.
* ``groups``: one group per sample (``0000``, ``0001``, ...), each with ``data`` of shape
  (T, *space, C) (diffusion-sorption, 2D diffusion-reaction, shallow water).

Fields are stacked as channels. x = channels ``input_channels`` of the input fields at time
index ``t_in``; y = channels ``target_channels`` of the fields at ``t_out`` (indices into the
time axis after keeping every ``reduced_resolution_t``-th step, negative counts from the end).
Space is subsampled by ``reduced_resolution``. As in ORCA/PDEBench the first ``test_fraction``
of the samples is the test set and the rest the training set (no seed involved).
Output: x (N, C, X) / (N, C, H, W) float32, y the same layout (output kind ``dense``).
Only the ``t_in`` / ``t_out`` time steps are read (h5py selections), never a field's whole time axis.

``lazy_inputs: true`` keeps x on disk: a :class:`PdeFieldSource` reads the rows of a batch at ``t_in``
(orca/data/loaders/lazy.py); y is read into memory as without it.

``generate`` (a dict of :mod:`orca.data.preparation.pde_generate` settings) makes ``fetch`` write the file
itself; otherwise ``fetch`` downloads it from ``download`` (manifest entries with URLs and MD5)
or fails with a message naming the file, its URL and where to put it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import DataFormatError, DataUnavailableError, TaskData, check_args, register_loader
from ..download.fetching import ensure_file, manifest_entries
from .lazy import LazyRows, RowSource, register_source

DEFAULT_ARGS = {
    "file": None, "root": "pdebench", "layout": "arrays", "fields": ["tensor"], "input_fields": None,
    "time_axis": True, "spatial_dims": 1, "t_in": 0, "t_out": -1, "reduced_resolution": 1,
    "reduced_resolution_t": 1, "input_channels": None, "target_channels": None, "max_samples": None,
    "test_fraction": 0.1, "flatten_channels": False, "download": None, "generate": None, "lazy_inputs": False,
}


def _args(args: dict) -> dict:
    a = check_args("pdebench_hdf5", args, DEFAULT_ARGS)
    if not a["file"]:
        raise ValueError("loader 'pdebench_hdf5' needs args.file (the HDF5 file name)")
    if a["layout"] not in ("arrays", "groups"):
        raise ValueError(f"pdebench_hdf5: layout must be 'arrays' or 'groups', got {a['layout']!r}")
    if a["spatial_dims"] not in (1, 2):
        raise ValueError(f"pdebench_hdf5: spatial_dims must be 1 or 2, got {a['spatial_dims']!r}")
    if not 0 < float(a["test_fraction"]) < 1:
        raise ValueError("pdebench_hdf5: test_fraction must be in (0, 1)")
    if a["lazy_inputs"] not in (True, False):
        raise ValueError(f"pdebench_hdf5: lazy_inputs must be true or false, got {a['lazy_inputs']!r}")
    return a


def file_path(args: dict, data_dir: Path) -> Path:
    a = _args(args)
    p = Path(a["file"])
    return p if p.is_absolute() else Path(data_dir) / a["root"] / p


def fetch_pdebench(args: dict, data_dir: Path) -> None:
    """Generate (``generate``) or download (``download``) the file when it is not there yet."""
    a = _args(args)
    path = file_path(args, data_dir)
    if a["generate"] is not None:
        if not path.is_file():
            from ..preparation.pde_generate import generate

            generate(path, a["generate"])
        return
    entry = manifest_entries(a["download"]).get(Path(a["file"]).name)
    ensure_file(path.name, path.parent, entry)


def _fingerprint(args: dict, data_dir: Path) -> list:
    p = file_path(args, data_dir)
    return [p.stat().st_size, p.stat().st_mtime_ns] if p.is_file() else []


def _time_index(t: int, n_raw: int, step: int, where: str) -> int:
    """Index ``t`` of the subsampled time axis (raw[::step]) -> raw index."""
    n_sub = len(range(0, n_raw, step))
    if not -n_sub <= t < n_sub:
        raise DataFormatError(f"{where}: time index {t} out of range for {n_sub} steps "
                              f"({n_raw} stored, every {step}th kept)")
    return (t % n_sub) * step


def _space(ndim: int, r: int) -> tuple:
    return (slice(None, None, r),) * ndim


def _field_index(ds, name: str, a: dict, t: int | None, where: str) -> tuple:
    """The index after the sample axis that reads field ``name`` at time index t (None: no time axis)."""
    sd, r = int(a["spatial_dims"]), int(a["reduced_resolution"])
    if t is not None:
        if ds.ndim != 2 + sd:
            raise DataFormatError(f"{where}: dataset {name!r} has shape {ds.shape}, expected "
                                  f"(N, T, {'X' if sd == 1 else 'H, W'})")
        return (_time_index(t, ds.shape[1], int(a["reduced_resolution_t"]), f"{where}:{name}"),) + _space(sd, r)
    if ds.ndim == 1 + sd:
        return _space(sd, r)
    if ds.ndim == 2 + sd and ds.shape[1] == 1:
        return (0,) + _space(sd, r)
    raise DataFormatError(f"{where}: dataset {name!r} has shape {ds.shape}, expected "
                          f"(N, *space) or (N, 1, *space) with time_axis false")


def _read_arrays(f, fields: list[str], a: dict, t: int | None, rows, where: str) -> np.ndarray:
    """Top-level datasets -> (n, C, *space) at time index t (None: no time axis); ``rows``: a slice or an
    increasing list of sample numbers (h5py reads only those samples and that time step)."""
    chans = []
    for name in fields:
        if name not in f:
            raise DataFormatError(f"{where}: no dataset {name!r}; it has {sorted(f.keys())}")
        ds = f[name]
        arr = ds[(rows,) + _field_index(ds, name, a, t, where)]
        chans.append(np.asarray(arr, dtype=np.float32))
    return np.stack(chans, axis=1)


def _group_names(f, where: str) -> list[str]:
    """Sorted names of the per-sample groups (those holding ``data``)."""
    names = sorted(k for k in f.keys() if "data" in f[k])
    if not names:
        raise DataFormatError(f"{where}: layout 'groups' expects groups holding a 'data' dataset; "
                              f"found {sorted(f.keys())[:5]}")
    return names


def _read_groups(f, a: dict, t: int, names: list[str], where: str) -> np.ndarray:
    """Per-sample groups ``names`` with ``data`` (T, *space, C) -> (n, C, *space) at time index t."""
    sd, r = int(a["spatial_dims"]), int(a["reduced_resolution"])
    out = []
    for g in names:
        ds = f[g]["data"]
        if ds.ndim != 2 + sd:
            raise DataFormatError(f"{where}: {g}/data has shape {ds.shape}, expected (T, *space, C)")
        ti = _time_index(t, ds.shape[0], int(a["reduced_resolution_t"]), f"{where}:{g}")
        frame = np.asarray(ds[(ti,) + _space(sd, r)], dtype=np.float32)  # (*space, C)
        out.append(np.moveaxis(frame, -1, 0))
    return np.stack(out)


def _pick(arr: np.ndarray, channels, where: str) -> np.ndarray:
    if channels is None:
        return arr
    bad = [c for c in channels if not -arr.shape[1] <= c < arr.shape[1]]
    if bad:
        raise DataFormatError(f"{where}: channels {bad} out of range ({arr.shape[1]} channels)")
    return arr[:, list(channels)]


def _shaped(x: np.ndarray, channels, flatten: bool, where: str) -> np.ndarray:
    """Fields read (n, C, *space) -> the task's inputs or targets: chosen channels, flattened when asked."""
    x = _pick(x, channels, where)
    return x.reshape(len(x), 1, -1) if flatten else x  # ORCA's 1D CFD: (C, X) -> (1, C * X)


def _count(f, a: dict) -> int:
    if a["layout"] == "groups":
        return sum(1 for k in f.keys() if "data" in f[k])
    name = (a["input_fields"] or a["fields"])[0]
    if name not in f:
        raise DataFormatError(f"{f.filename}: no dataset {name!r}; it has {sorted(f.keys())}")
    return int(f[name].shape[0])


@register_source
class PdeFieldSource(RowSource):
    """The inputs of a PDEBench task, rows read on demand: samples 0..n-1 of ``args.file`` at ``args.t_in``
    (the loader's args: layout, fields / input_fields, time_axis, spatial_dims, reduced_resolution(_t),
    input_channels, flatten_channels). A batch reads its samples at that one time step, nothing else."""

    kind = "pde_fields"
    ARGS = ("file", "layout", "fields", "input_fields", "time_axis", "spatial_dims", "t_in", "reduced_resolution",
            "reduced_resolution_t", "input_channels", "flatten_channels")

    def __init__(self, path: str | Path, args: dict, n_rows: int):
        self.path, self.args, self.n_rows = str(path), {k: args[k] for k in self.ARGS}, int(n_rows)
        self._a = {**DEFAULT_ARGS, **self.args}
        self._names = None
        self.sample_shape = tuple(self.read(np.arange(1))[0].shape) if self.n_rows else ()

    def read(self, rows: np.ndarray) -> np.ndarray:
        import h5py

        a, where = self._a, self.path
        sel = slice(int(rows[0]), int(rows[-1]) + 1) if int(rows[-1]) - int(rows[0]) + 1 == len(rows) else rows.tolist()
        with h5py.File(self.path, "r") as f:
            if a["layout"] == "groups":
                if self._names is None:
                    self._names = _group_names(f, where)[: self.n_rows]
                x = _read_groups(f, a, int(a["t_in"]), [self._names[int(i)] for i in rows], where)
            else:
                x = _read_arrays(f, a["input_fields"] or a["fields"], a, int(a["t_in"]) if a["time_axis"] else None,
                                 sel, where)
        return np.ascontiguousarray(_shaped(x, a["input_channels"], bool(a["flatten_channels"]), where))

    def describe(self) -> dict:
        return {"kind": self.kind, "path": self.path, "args": self.args, "n_rows": self.n_rows}

    @classmethod
    def from_json(cls, d: dict) -> "PdeFieldSource":
        return cls(d["path"], d["args"], d["n_rows"])


def _read_pair(f, a: dict, n: int, where: str, lazy: bool) -> tuple:
    """(x, y) of samples 0..n-1: x None when ``lazy`` (read per batch by PdeFieldSource)."""
    if a["layout"] == "groups":
        names = _group_names(f, where)[:n]
        x = None if lazy else _read_groups(f, a, int(a["t_in"]), names, where)
        return x, _read_groups(f, a, int(a["t_out"]), names, where)
    t_in = int(a["t_in"]) if a["time_axis"] else None
    t_out = int(a["t_out"]) if a["time_axis"] else None
    x = None if lazy else _read_arrays(f, a["input_fields"] or a["fields"], a, t_in, slice(0, n), where)
    return x, _read_arrays(f, a["fields"], a, t_out, slice(0, n), where)


@register_loader("pdebench_hdf5", fetch=fetch_pdebench, fingerprint=_fingerprint)
def load_pdebench(args: dict, seed: int, data_dir: Path) -> TaskData:
    """PDEBench HDF5 -> TaskData(x = u(t_in), y = u(t_out)); seed unused (fixed split). With ``lazy_inputs``
    x_train / x_test are LazyRows (rows n_test..n-1 / 0..n_test-1 of a PdeFieldSource)."""
    import h5py

    a = _args(args)
    path = file_path(args, data_dir)
    if not path.is_file():
        raise DataUnavailableError(f"pdebench_hdf5: {path} not found; run `orca fetch` for this task first")
    where = str(path)
    try:
        with h5py.File(path, "r") as f:
            n = _count(f, a)
            if a["max_samples"]:
                n = min(n, int(a["max_samples"]))
            if n < 2:
                raise DataFormatError(f"{where}: {n} samples found; need at least 2")
            x, y = _read_pair(f, a, n, where, bool(a["lazy_inputs"]))
        if a["lazy_inputs"]:
            x = LazyRows(PdeFieldSource(path, a, n))
    except OSError as e:
        raise DataFormatError(f"pdebench_hdf5: cannot read {where} as HDF5: {e}") from e
    if x is not None and not a["lazy_inputs"]:
        x = _shaped(x, a["input_channels"], bool(a["flatten_channels"]), where)
    y = _shaped(y, a["target_channels"], bool(a["flatten_channels"]), where)
    n_test = max(1, int(round(float(a["test_fraction"]) * n)))
    info = {"task": "dense", "source": f"pdebench_hdf5:{path.name}", "layout": a["layout"],
            "n_samples": int(n), "n_test": n_test}
    if a["lazy_inputs"]:
        return TaskData(x.rows(slice(n_test, None)), y[n_test:], x.rows(slice(0, n_test)), y[:n_test], info)
    return TaskData(x[n_test:], y[n_test:], x[:n_test], y[:n_test], info)
