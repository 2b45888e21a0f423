"""Out-of-core inputs: rows of an HDF5 dataset read on demand (``data.args.lazy_inputs: true``).

:class:`LazyRows` stands in for an input array ``x`` (N, C, L) or (N, C, H, W) that is too large for
memory (PSICOV: 57 x 512 x 512 float32 = 60 MB per protein). It is a list of row indices into one
HDF5 dataset; indexing it reads only the rows asked for and returns float32 numpy. Views
(:meth:`LazyRows.rows`) select rows without reading anything. Turning a whole LazyRows into an
array (``np.asarray``) is refused, so no code path loads a split by accident.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

BLOCK_BYTES = 64 << 20  # rows per block in whole-split passes (finiteness, checksum): about 64 MB


class LazyRows:
    """Rows ``rows`` (int64 indices along axis 0) of the HDF5 dataset ``key`` in ``path``, read on demand.

    ``x[i]`` -> (C, ...) float32; ``x[a:b]`` / ``x[int array]`` -> (n, C, ...) float32, in the order
    asked (repeats allowed); ``x.rows(idx)`` -> a LazyRows view of those rows (nothing read).
    """

    dtype = np.dtype(np.float32)

    def __init__(self, path: str | Path, key: str, rows: np.ndarray | None = None):
        import h5py

        self.path, self.key = str(path), str(key)
        with h5py.File(self.path, "r") as f:
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise KeyError(f"{self.path}: no dataset {key!r}; it has {sorted(f.keys())}")
            shape, src_dtype = tuple(int(d) for d in f[key].shape), f[key].dtype
        if not np.issubdtype(src_dtype, np.number) or len(shape) < 2:
            raise ValueError(f"{self.path}[{key}]: dataset of {src_dtype} {shape} is not a numeric array of samples")
        total, self._sample_shape = shape[0], shape[1:]
        self._rows = np.arange(total, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64).ravel()
        if len(self._rows) and (self._rows.min() < 0 or self._rows.max() >= total):
            raise IndexError(f"{self.path}[{key}]: row indices outside 0..{total - 1}")
        self.max_read_rows = 0  # largest number of rows one read has fetched (tests, diagnostics)

    # ------------------------------------------------------------------ array-like
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._rows), *self._sample_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self._sample_shape)

    @property
    def indices(self) -> np.ndarray:
        """(n,) int64 row numbers in the HDF5 dataset (a copy)."""
        return self._rows.copy()

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"LazyRows({self.path!r}, {self.key!r}, shape={self.shape})"

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
        view.path, view.key, view._sample_shape = self.path, self.key, self._sample_shape
        view._rows, view.max_read_rows = self._rows[idx].copy(), 0
        return view

    # ------------------------------------------------------------------ reading
    def _read(self, rows: np.ndarray) -> np.ndarray:
        """Dataset rows ``rows`` (any order, repeats allowed) -> (len(rows), C, ...) float32."""
        import h5py

        self.max_read_rows = max(self.max_read_rows, len(rows))
        if len(rows) == 0:
            return np.empty((0, *self._sample_shape), np.float32)
        uniq, inverse = np.unique(rows, return_inverse=True)  # h5py wants increasing, distinct indices
        with h5py.File(self.path, "r") as f:
            ds = f[self.key]
            if uniq[-1] - uniq[0] + 1 == len(uniq):  # a contiguous run: one hyperslab
                block = ds[int(uniq[0]): int(uniq[-1]) + 1]
            else:
                block = ds[uniq.tolist()]
        block = np.asarray(block, dtype=np.float32)
        if len(uniq) == len(rows) and (len(rows) < 2 or bool(np.all(rows[1:] > rows[:-1]))):
            return np.ascontiguousarray(block)
        return np.ascontiguousarray(block[inverse.ravel()])

    def blocks(self, block_bytes: int | None = None):
        """Yield consecutive (n_i, C, ...) float32 blocks of about ``block_bytes`` (default BLOCK_BYTES) covering
        every row in order."""
        per_row = 4 * int(np.prod(self._sample_shape, dtype=np.int64))
        step = max(1, int(block_bytes or BLOCK_BYTES) // max(1, per_row))
        for i in range(0, len(self), step):
            yield self[i: i + step]

    def all_finite(self) -> bool:
        """True when no entry is NaN or infinite (reads the rows block by block)."""
        return all(bool(np.isfinite(b).all()) for b in self.blocks())

    def update_hash(self, h: "hashlib._Hash") -> None:
        """Feed ``dtype``, ``shape`` and the bytes block by block into ``h``: the same digest as the
        in-memory float32 array would give in :meth:`orca.data.taskdata.SplitData.checksum`."""
        h.update(f"{self.dtype}{self.shape}".encode())
        for b in self.blocks():
            h.update(b.tobytes())


def is_lazy(x) -> bool:
    return isinstance(x, LazyRows)


def read_rows(x, idx) -> np.ndarray:
    """Rows ``idx`` of ``x`` (numpy array or LazyRows) as numpy; torch index tensors are accepted."""
    if hasattr(idx, "numpy"):
        idx = idx.numpy()
    return x[idx]
