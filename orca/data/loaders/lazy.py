"""Out-of-core inputs: rows of an on-disk array read on demand (``data.args.lazy_inputs: true``).

:class:`LazyRows` stands in for an input array ``x`` (N, C, L) or (N, C, H, W) that is too large for
memory (PSICOV: 57 x 512 x 512 float32 = 60 MB per protein; DeepSEA: 223,643 x 4 x 1000). It is a list
of row indices into a :class:`RowSource`; indexing it reads only the rows asked for and returns float32
numpy. Views (:meth:`LazyRows.rows`) select rows without reading anything. Turning a whole LazyRows into
an array (``np.asarray``) is refused, so no code path loads a split by accident.

Row sources (each JSON-describable, so that the prepared-split cache, orca/data/core.py, stores where
the rows are rather than the rows themselves; :func:`source_from_json` rebuilds one):

==========  ================================================================================
hdf5        an HDF5 dataset (N, ...) (``Hdf5Source``)
npy         an uncompressed ``.npy`` array (N, ...): a file, a stored npz member or an extracted
            copy (``NpySource``; each run of consecutive rows is read from the file into the
            batch's buffer, so file pages stay in the page cache, not in the resident set)
concat      the rows of several sources one after the other (``ConcatSource``: train + val)
mapped      another source's rows, a row range of it, with per-batch steps applied (``MappedSource``:
            a spec's slice / reshape / transpose and the loader's x options)
pde_fields  PDEBench fields at one time index (registered by orca/data/loaders/hdf5_pde.py)
==========  ================================================================================

A LazyRows is picklable (sources hold names, not open files) and is itself a map-style dataset:
``torch.utils.data.DataLoader(x, sampler=BatchSampler(...), batch_size=None, num_workers=k)`` reads one
batch of rows per call in the workers.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..checks import as_float32

BLOCK_BYTES = 64 << 20  # rows per block in whole-split passes (finiteness, checksum): about 64 MB

SOURCES: dict[str, type] = {}  # kind -> RowSource subclass (from_json)


def register_source(cls: type) -> type:
    """Class decorator: make ``cls`` (a RowSource with a ``kind``) rebuildable by :func:`source_from_json`."""
    SOURCES[cls.kind] = cls
    return cls


def to_float32(block: np.ndarray, where: str) -> np.ndarray:
    """A block of rows as a new float32 array, refused as orca.data.core.as_float32 refuses whole arrays
    (not numbers, or finite values beyond float32's range)."""

    if type(block) is np.ndarray and block.dtype == np.float32 and block.base is None and block.flags.c_contiguous:
        return block  # a fresh float32 read: no second copy
    return as_float32(block, where)


class RowSource:
    """Numbered samples ``(n_rows, *sample_shape)`` read a set of rows at a time (subclasses: one storage)."""

    kind = ""
    n_rows = 0
    sample_shape: tuple[int, ...] = ()

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (sorted, distinct int64, within 0..n_rows-1) -> (len(rows), *sample_shape) float32."""
        raise NotImplementedError

    def describe(self) -> dict:
        """JSON-serialisable description; ``source_from_json(describe())`` rebuilds the source."""
        raise NotImplementedError

    @classmethod
    def from_json(cls, d: dict) -> "RowSource":
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()!r})"


def source_from_json(d: dict) -> RowSource:
    """The source :meth:`RowSource.describe` described. A mapping without ``kind`` is the HDF5 form of
    prepared files written before other sources existed (``{"path", "key"}``)."""
    kind = d.get("kind", "hdf5")
    if kind not in SOURCES:
        raise ValueError(f"unknown lazy row source {kind!r}; known: {sorted(SOURCES)}")
    return SOURCES[kind].from_json(d)


def _is_run(rows: np.ndarray) -> bool:
    """True when sorted distinct ``rows`` are consecutive (one contiguous slice)."""
    return len(rows) > 0 and int(rows[-1]) - int(rows[0]) + 1 == len(rows)


# ----------------------------------------------------------------------------- storages
@register_source
class Hdf5Source(RowSource):
    """Rows of the HDF5 dataset ``key`` (N, ...) in ``path``; any numeric dtype, read as float32."""

    kind = "hdf5"

    def __init__(self, path: str | Path, key: str):
        import h5py

        self.path, self.key = str(path), str(key)
        with h5py.File(self.path, "r") as f:
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise KeyError(f"{self.path}: no dataset {key!r}; it has {sorted(f.keys())}")
            shape, src_dtype = tuple(int(d) for d in f[key].shape), f[key].dtype
        if not np.issubdtype(src_dtype, np.number) or len(shape) < 2:
            raise ValueError(f"{self.path}[{key}]: dataset of {src_dtype} {shape} is not a numeric array of samples")
        self.n_rows, self.sample_shape = shape[0], shape[1:]

    def read(self, rows: np.ndarray) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            ds = f[self.key]
            block = ds[int(rows[0]): int(rows[-1]) + 1] if _is_run(rows) else ds[rows.tolist()]
        return to_float32(block, f"{self.path}[{self.key}]")

    def describe(self) -> dict:
        return {"kind": self.kind, "path": self.path, "key": self.key}

    @classmethod
    def from_json(cls, d: dict) -> "Hdf5Source":
        return cls(d["path"], d["key"])


@register_source
class NpySource(RowSource):
    """Rows of an uncompressed npy array stored at byte ``offset`` of ``path`` (a .npy file, or a stored member
    inside an .npz). A read copies each run of consecutive rows from the file into a fresh buffer (``readinto``:
    file pages stay in the page cache, outside the process's resident set, unlike a memory map's), then casts
    it to float32. Fortran-order arrays (rows not contiguous on disk) are read through a memory map, opened
    and closed per read."""

    kind = "npy"

    def __init__(self, path: str | Path, offset: int, dtype, shape, fortran_order: bool = False):
        self.path, self.offset = str(path), int(offset)
        self.dtype, self.fortran_order = np.dtype(dtype), bool(fortran_order)
        shape = tuple(int(d) for d in shape)
        if self.dtype.kind not in "biuf" or len(shape) < 2:
            raise ValueError(f"{self.path}: array of {self.dtype} {shape} is not a numeric array of samples")
        need = self.offset + self.dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        have = os.stat(self.path).st_size
        if have < need:
            raise ValueError(f"{self.path}: {have} bytes, but the array {shape} {self.dtype} at byte {self.offset} "
                             f"needs {need}; the file is truncated: delete it (it is rebuilt or fetched again)")
        self.n_rows, self.sample_shape = shape[0], shape[1:]

    @classmethod
    def at(cls, path: str | Path, offset: int = 0) -> "NpySource":
        """The npy array whose header starts at byte ``offset`` of ``path`` (0: a .npy file)."""
        with open(path, "rb") as fh:
            fh.seek(offset)
            shape, fortran, dtype = read_npy_header(fh, str(path))
            data_at = fh.tell()
        return cls(path, data_at, dtype, shape, fortran)

    def read(self, rows: np.ndarray) -> np.ndarray:
        if self.fortran_order:
            return self._read_mapped(rows)
        buf = np.empty((len(rows), *self.sample_shape), self.dtype)
        flat = memoryview(buf.reshape(-1).view(np.uint8))
        row_bytes = buf.itemsize * int(np.prod(self.sample_shape, dtype=np.int64))
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1  # runs of consecutive rows: one read each
        with open(self.path, "rb", buffering=0) as fh:
            for lo, hi in zip([0, *breaks.tolist()], [*breaks.tolist(), len(rows)]):
                fh.seek(self.offset + int(rows[lo]) * row_bytes)
                want = (hi - lo) * row_bytes
                got = fh.readinto(flat[lo * row_bytes: hi * row_bytes])
                while got < want:  # readinto may return less than asked (large reads)
                    more = fh.readinto(flat[lo * row_bytes + got: hi * row_bytes])
                    if not more:
                        raise ValueError(f"{self.path}: file ends inside row {int(rows[lo])}; it is truncated")
                    got += more
        return to_float32(buf, self.path)

    def _read_mapped(self, rows: np.ndarray) -> np.ndarray:
        """Rows of a Fortran-order array through a memory map released when the read returns."""
        shape = (self.n_rows, *self.sample_shape)
        mm = np.memmap(self.path, self.dtype, "r", self.offset, shape, "F")
        out = np.ascontiguousarray(to_float32(np.array(mm[rows], order="C"), self.path))
        del mm
        return out

    def describe(self) -> dict:
        return {"kind": self.kind, "path": self.path, "offset": self.offset, "dtype": self.dtype.str,
                "shape": [self.n_rows, *self.sample_shape], "fortran_order": self.fortran_order}

    @classmethod
    def from_json(cls, d: dict) -> "NpySource":
        return cls(d["path"], d["offset"], d["dtype"], d["shape"], d.get("fortran_order", False))


def read_npy_header(fh, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of the npy header at ``fh``'s position; ``fh`` is left at the data."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            return npformat.read_array_header_1_0(fh)
        if version == (2, 0):
            return npformat.read_array_header_2_0(fh)
        return npformat._read_array_header(fh, version)  # (3, 0): no public reader
    except ValueError as e:
        raise ValueError(f"{where}: not an npy array ({e})") from e


@register_source
class ConcatSource(RowSource):
    """The rows of ``parts`` one after the other (same sample shape): e.g. x_train followed by x_val."""

    kind = "concat"

    def __init__(self, parts: list[RowSource]):
        shapes = {tuple(p.sample_shape) for p in parts}
        if not parts or len(shapes) != 1:
            raise ValueError(f"cannot join row sources of sample shapes {sorted(shapes)}: they must agree")
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [p.n_rows for p in parts])
        self.n_rows, self.sample_shape = int(self.starts[-1]), parts[0].sample_shape

    def read(self, rows: np.ndarray) -> np.ndarray:
        part = np.searchsorted(self.starts, rows, side="right") - 1
        blocks = [p.read(rows[part == i] - self.starts[i]) for i, p in enumerate(self.parts) if (part == i).any()]
        return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]

    def describe(self) -> dict:
        return {"kind": self.kind, "parts": [p.describe() for p in self.parts]}

    @classmethod
    def from_json(cls, d: dict) -> "ConcatSource":
        return cls([source_from_json(p) for p in d["parts"]])


# ----------------------------------------------------------------------------- per-batch steps
def _index_items(items: list) -> tuple:
    """JSON index items (int, "...", [start, stop, step]) -> a numpy index for the sample axes."""
    return tuple(Ellipsis if it == "..." else slice(*it) if isinstance(it, list) else int(it) for it in items)


def _grid(n: int, h: int, w: int) -> np.ndarray:
    """(n, 2, h, w) float32 coordinates in [0, 1] (the arrays loader's append_grid)."""
    gy, gx = np.meshgrid(np.linspace(0, 1, h, dtype=np.float32), np.linspace(0, 1, w, dtype=np.float32),
                         indexing="ij")
    return np.broadcast_to(np.stack([gy, gx])[None], (n, 2, h, w))


def apply_step(batch: np.ndarray, step: dict) -> np.ndarray:
    """One per-batch step on a (n, ...) batch; the batch axis is never moved, merged or dropped."""
    op, n = step["op"], len(batch)
    if op == "index":  # the sample part of a spec's slice (its first item selected the rows)
        return batch[(slice(None), *_index_items(step["items"]))]
    if op == "reshape":
        return batch.reshape((n, *step["shape"]))
    if op == "transpose":
        return np.transpose(batch, step["axes"])
    if op == "scale":
        return batch * np.float32(step["value"])
    if op == "channel_axis":
        return batch[:, None]
    if op == "grid":
        if batch.ndim != 4:
            raise ValueError(f"append_grid needs (N, C, H, W) inputs, got samples of shape {batch.shape[1:]}")
        return np.concatenate([batch, _grid(n, batch.shape[2], batch.shape[3])], axis=1)
    raise ValueError(f"unknown per-batch step {op!r}")


def canonical_float32(batch: np.ndarray) -> np.ndarray:
    """``batch`` as float32 in C order with the strides a new array has. numpy calls a transposed array with a
    length-1 axis contiguous and keeps its strides, from which torch infers channels-last: the same values then
    take another convolution kernel and round differently from the in-memory path's freshly made array."""
    out = np.ascontiguousarray(batch, dtype=np.float32)
    canonical = out.itemsize * np.cumprod((1, *out.shape[:0:-1]))[::-1]
    return out if tuple(out.strides) == tuple(int(s) for s in canonical) else out.copy(order="C")


@register_source
class MappedSource(RowSource):
    """Rows ``range(*row_range)`` of ``base`` (all rows when None), with ``steps`` applied to every batch read
    (see :func:`apply_step`); the result is float32, as the in-memory path gives it."""

    kind = "mapped"

    def __init__(self, base: RowSource, steps: list[dict], row_range: list | None = None):
        self.base, self.steps = base, [dict(s) for s in steps]
        self.row_range = None if row_range is None else [None if v is None else int(v) for v in row_range]
        self._rows = np.arange(base.n_rows)[slice(*self.row_range)] if self.row_range else None
        self.n_rows = base.n_rows if self._rows is None else len(self._rows)
        probe = self._apply(np.zeros((0, *base.sample_shape), np.float32))
        self.sample_shape = tuple(int(d) for d in probe.shape[1:])

    def _apply(self, batch: np.ndarray) -> np.ndarray:
        for step in self.steps:
            batch = apply_step(batch, step)
        return canonical_float32(batch)

    def read(self, rows: np.ndarray) -> np.ndarray:
        base_rows = rows if self._rows is None else self._rows[rows]
        if len(base_rows) > 1 and base_rows[1] < base_rows[0]:  # a negative row step: read increasing, flip
            return self._apply(self.base.read(base_rows[::-1])[::-1])
        return self._apply(self.base.read(base_rows))

    def describe(self) -> dict:
        return {"kind": self.kind, "base": self.base.describe(), "steps": self.steps, "row_range": self.row_range}

    @classmethod
    def from_json(cls, d: dict) -> "MappedSource":
        return cls(source_from_json(d["base"]), d["steps"], d.get("row_range"))


# ----------------------------------------------------------------------------- the array stand-in
class LazyRows:
    """Rows ``rows`` (int64 indices along axis 0) of a row source, read on demand.

    ``LazyRows(path, key)`` is the HDF5 dataset ``key`` of ``path``; ``LazyRows(source)`` any
    :class:`RowSource`. ``x[i]`` -> (C, ...) float32; ``x[a:b]`` / ``x[int array]`` -> (n, C, ...) float32,
    in the order asked (repeats allowed); ``x.rows(idx)`` -> a LazyRows view of those rows (nothing read).
    """

    dtype = np.dtype(np.float32)

    def __init__(self, source: RowSource | str | Path, key: str | None = None, rows: np.ndarray | None = None):
        self.source = source if isinstance(source, RowSource) else Hdf5Source(source, key)
        total = self.source.n_rows
        self._rows = np.arange(total, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64).ravel()
        if len(self._rows) and (self._rows.min() < 0 or self._rows.max() >= total):
            raise IndexError(f"{self.source!r}: row indices outside 0..{total - 1}")
        self.max_read_rows = 0  # largest number of rows one read has fetched (tests, diagnostics)

    # ------------------------------------------------------------------ array-like
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._rows), *self.source.sample_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.source.sample_shape)

    @property
    def indices(self) -> np.ndarray:
        """(n,) int64 row numbers in the source (a copy)."""
        return self._rows.copy()

    @property
    def nbytes_float32(self) -> int:
        """Bytes the rows would take in memory as float32 (what eager loading would hold)."""
        return 4 * int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"LazyRows({self.source!r}, shape={self.shape})"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is an out-of-core input (data.args.lazy_inputs); read rows with x[idx], "
                        "not the whole array")

    def __getitem__(self, idx) -> np.ndarray:
        if isinstance(idx, (int, np.integer)):
            return self._read(self._rows[[int(idx)]])[0]
        if isinstance(idx, slice):
            return self._read(self._rows[idx])
        idx = np.asarray(idx)
        if idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1:
            raise TypeError(f"LazyRows indices must be an int, a slice or a 1-D integer array, got {idx.dtype} "
                            f"{idx.shape}")
        return self._read(self._rows[idx])

    def rows(self, idx) -> "LazyRows":
        """A view of rows ``idx`` (int array or slice, positions in this view); reads nothing."""
        view = object.__new__(LazyRows)
        view.source, view._rows, view.max_read_rows = self.source, self._rows[idx].copy(), 0
        return view

    # ------------------------------------------------------------------ reading
    def _read(self, rows: np.ndarray) -> np.ndarray:
        """Source rows ``rows`` (any order, repeats allowed) -> (len(rows), C, ...) float32."""
        self.max_read_rows = max(self.max_read_rows, len(rows))
        if len(rows) == 0:
            return np.empty((0, *self.source.sample_shape), np.float32)
        uniq, inverse = np.unique(rows, return_inverse=True)  # sources read increasing, distinct rows
        block = self.source.read(uniq)
        if len(uniq) == len(rows) and (len(rows) < 2 or bool(np.all(rows[1:] > rows[:-1]))):
            return np.ascontiguousarray(block)
        return np.ascontiguousarray(block[inverse.ravel()])

    def block_ranges(self, block_bytes: int | None = None) -> list[slice]:
        """Consecutive row ranges of about ``block_bytes`` (default BLOCK_BYTES) of float32 each, covering every
        row in order."""
        per_row = 4 * int(np.prod(self.source.sample_shape, dtype=np.int64))
        step = max(1, int(block_bytes or BLOCK_BYTES) // max(1, per_row))
        return [slice(i, i + step) for i in range(0, len(self), step)]

    def blocks(self, block_bytes: int | None = None):
        """Yield consecutive (n_i, C, ...) float32 blocks of about ``block_bytes`` (default BLOCK_BYTES) covering
        every row in order."""
        for r in self.block_ranges(block_bytes):
            yield self[r]

    def all_finite(self) -> bool:
        """True when no entry is NaN or infinite (reads the rows block by block, one block held at a time)."""
        for r in self.block_ranges():
            if not np.isfinite(self[r]).all():
                return False
        return True

    def update_hash(self, h: "hashlib._Hash") -> None:
        """Feed ``dtype``, ``shape`` and the bytes block by block into ``h``: the same digest as the
        in-memory float32 array would give in :meth:`orca.data.taskdata.SplitData.checksum`."""
        h.update(f"{self.dtype}{self.shape}".encode())
        for r in self.block_ranges():
            h.update(memoryview(self[r]).cast("B"))  # C-contiguous float32: its bytes, without a copy


def is_lazy(x) -> bool:
    return isinstance(x, LazyRows)


def read_rows(x, idx) -> np.ndarray:
    """Rows ``idx`` of ``x`` (numpy array or LazyRows) as numpy; torch index tensors are accepted."""
    if hasattr(idx, "numpy"):
        idx = idx.numpy()
    return x[idx]
