"""Stand-ins for the ``arrays`` loader: each array spec's container, key, slice, reshape and transpose
inverted from the per-sample shapes the task declares (``input.shape``; ``output`` kind and size).

The loader applies slice -> reshape -> transpose -> x/y options; the raw shape is found by undoing
them in reverse order, so the loader's output has exactly the declared shapes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.loaders.arrays import FIELDS, _args, _extra_specs, _root, _specs, detect_format, parse_slice
from .containers import container_bytes, write_container, write_tar
from .registry import Size, register_writer


def _unslice(shape: tuple, text: str | None) -> tuple:
    """A raw shape whose ``[slice]`` has ``shape`` (sample axis kept; strided axes widened)."""
    idx = parse_slice(text)
    raw = list(shape)
    for i, s in enumerate(idx[1:], start=1):  # the sample axis (0) keeps its length
        if isinstance(s, slice):
            d = shape[i]
            while len(range(*s.indices(d))) < shape[i]:
                d += 1
            raw[i] = d
    return tuple(raw)


def raw_shape(sample_shape: tuple, n: int, spec: dict, opts: dict, kind: str) -> tuple:
    """Shape of the stored array so that the loader gives ``(n, *sample_shape)``."""
    shape = list(sample_shape)
    if kind == "x" and opts.get("append_grid"):
        shape[0] -= 2
    if opts.get("add_channel_axis"):
        if shape[0] != 1:
            raise ValueError(f"add_channel_axis needs one channel, the task declares {sample_shape}")
        shape = shape[1:]
    full = (n, *shape)
    if spec.get("transpose") is not None:
        perm = list(spec["transpose"])
        inv = [0] * len(perm)
        for i, p in enumerate(perm):
            inv[p] = full[i]
        full = tuple(inv)
    if spec.get("reshape") is not None:
        full = (n, int(np.prod(full[1:])))
    return _unslice(full, spec.get("slice"))


def target_values(task, n: int, x_spatial: tuple, rng: np.random.Generator) -> np.ndarray:
    """Loader-side targets (n, ...) for the task's output kind (class ids, multilabel 0/1, floats)."""
    kind, k = task.output.kind, int(task.output.num_outputs or 2)
    if kind == "classification":  # every class present when n >= k (training parts: see _arrays_for)
        return rng.permutation(np.arange(n) % k)
    if kind == "multilabel":
        y = (rng.random((n, k)) < 0.3).astype(np.float32)
        y[0], y[1] = 1.0, 0.0
        return y
    if kind == "dense":
        return rng.normal(size=(n, k, *x_spatial)).astype(np.float32)
    return rng.normal(size=(n, k)).astype(np.float32)


def _y_raw(y: np.ndarray, spec: dict, opts: dict) -> np.ndarray:
    """Undo the loader's y options (offset, channel axis) and shape y as stored."""
    o = opts or {}
    if np.issubdtype(y.dtype, np.integer):
        y = y - int(o.get("offset") or 0)
    if o.get("add_channel_axis"):
        y = y[:, 0]
    shape = raw_shape(y.shape[1:], len(y), spec, {}, "y")
    return _fill(y, shape)


def _fill(values: np.ndarray, shape: tuple) -> np.ndarray:
    """``values`` as stored in an array of ``shape``: the same, reshaped, or (strided dense targets, whose
    values are random anyway) fresh noise of the raw shape."""
    if values.shape == tuple(shape):
        return values
    if values.size == int(np.prod(shape)):
        return values.reshape(shape)
    return np.random.default_rng(values.size).normal(size=shape).astype(values.dtype)


def _arrays_for(task, a: dict, size: Size) -> dict[str, np.ndarray]:
    """{field: stored array} for every x/y spec of the task."""
    specs = _specs(a)
    rng = size.rng(task.name)
    shape = tuple(task.input.shape or ())
    if not shape:
        raise ValueError(f"task {task.name}: input.shape is needed to write arrays stand-ins")
    classes = int(task.output.num_outputs or 2) if task.output.kind == "classification" else 0
    # every class in training after the validation split: stratified once ceil(val_fraction * n) >= classes
    val_fraction = float(task.data.val_fraction or 0.1)
    n_train = max(size.train, int(np.ceil(classes / val_fraction)) + 1) if classes else size.train
    counts = {"train": n_train, "val": max(2, size.test), "test": size.test}
    out = {}
    for part, n in counts.items():
        if f"x_{part}" not in specs:
            continue
        sx, sy = specs[f"x_{part}"], specs[f"y_{part}"]
        xraw = raw_shape(shape, n, sx, a["x"] or {}, "x")
        out[f"x_{part}"] = rng.normal(size=xraw).astype(np.float32)
        y = target_values(task, n, shape[1:], rng)
        out[f"y_{part}"] = _y_raw(y, sy, a["y"] or {})
    return out


@register_writer("loader", "arrays")
def write_arrays(task, data_dir: Path, size: Size) -> list[Path]:
    """The container files (and tar members) named by ``data.args``, with arrays of the declared shapes."""
    a = _args(task.data.args)
    root = _root(a, data_dir)
    specs = _specs(a)
    arrays = _arrays_for(task, a, size)
    files: dict[tuple, dict] = {}  # (outer, inner) -> {key: array}
    for field in FIELDS:
        if field in specs:
            spec = specs[field]
            outer, _, inner = spec["file"].partition("::")
            files.setdefault((outer, inner), {})[spec.get("key")] = arrays[field]
    for key, spec in _extra_specs(a).items():
        part = key.rpartition("_")[2]
        outer, _, inner = spec["file"].partition("::")
        files.setdefault((outer, inner), {})[spec.get("key")] = np.arange(len(arrays[f"x_{part}"]))
    written, members = [], {}
    for (outer, inner), content in files.items():
        spec_fmt = next((s.get("format") for s in specs.values() if s["file"] == (f"{outer}::{inner}" if inner
                                                                               else outer) and s.get("format")), None)
        fmt = spec_fmt or detect_format(inner or outer)
        if inner:
            members.setdefault(outer, {})[inner] = container_bytes(fmt, content)
        else:
            written.append(write_container(root / outer, fmt, content))
    written += [write_tar(root / outer, m) for outer, m in members.items()]
    return written
