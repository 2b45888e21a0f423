"""``arrays`` loader: arrays inside common container files, named by file and key in the args.

One loader for the on-disk formats the NAS-Bench-360 / ORCA rows ship in; the container format is
taken from the file name (or ``format``; the readers: orca/data/loaders/array_files.py):

==========  ============================  =========================================
format      file names                    key (``/`` separates nested levels)
==========  ============================  =========================================
npy         ``*.npy``                     none; or a dict key when the .npy holds a
                                          pickled dict (needs ``allow_pickle: true``)
npz         ``*.npz``                     array name
pickle      ``*.pkl``, ``*.pickle``       dict keys, e.g. ``train/images``
gzip-pickle ``*.gz``, ``*.pkl.gz``        same as pickle
mat         ``*.mat``                     variable name (scipy.io; MATLAB v7.3 via h5py)
hdf5        ``*.h5``, ``*.hdf5``          dataset path, e.g. ``features/train``
tar member  ``archive.tar.gz::inner``     the member ``inner`` of a tar archive,
                                          read in the member's own format
==========  ============================  =========================================

Args::

    root: nb360                  # folder under data_dir holding the files
    x_train: {file: a.npz, key: x_train, slice: ":1000, ::5, ::5", transpose: [0, 2, 1]}
    y_train: {file: a.npz, key: y_train}
    x_test / y_test: the same (omit both to split the training arrays: test_fraction, test_split)
    x_val / y_val: optional, concatenated to the training arrays (ORCA's valid_split = False)
    x: {add_channel_axis: true, scale: 0.00392, append_grid: false}   # applied to every x
    y: {offset: -1, dtype: int64}                                      # applied to every y
    allow_pickle: false          # pickle / pickled .npy containers need true (trusted files only)
    download: [{name, urls, md5}]  # manifest entries for fetch (the row's raw files, written once)
    extras: {clip_ids_test: {file: a.h5, key: clip_ids_test}}  # per-sample side arrays <name>_train/_val/_test
                                 # (same specs; _val joins _train; carried as TaskData.extras)
    lazy_inputs: false           # true: x_train / x_val / x_test stay on disk and each batch reads its rows
                                 # (orca.data.loaders.lazy.LazyRows; how each format is read:
                                 # orca/data/loaders/lazy_files.py); y stays in memory. slice / reshape /
                                 # transpose and args.x are applied to each batch; they must keep axis 0 the
                                 # samples (the slice's first item a range, transpose starting with 0)

An array spec is either a file name (key-less formats) or a mapping with ``file`` and optionally
``key``, ``slice`` (numpy basic indexing written as a string: integers, ``:``, ``...``),
``reshape`` (e.g. ``[-1, 3, 32, 32]`` for CIFAR's flat rows), ``transpose`` (axes) and ``encoding`` (pickle text encoding, e.g. ``latin1`` for Python 2 pickles).
x comes out as float32 (N, C, L) or (N, C, H, W); integer y as int64 class ids; float y as float32.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..core import (DataFormatError, TaskData, as_float32, check_args, numeric_targets,
                    register_loader)
from ..download.fetching import ensure_files
from .array_files import detect_format, parse_slice, read_array  # noqa: F401 - parse_slice: part of this loader's API
from .lazy import ConcatSource, LazyRows, MappedSource, RowSource, is_lazy
from .lazy_files import open_rows

FIELDS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
DEFAULT_ARGS = {
    "root": ".", "x_train": None, "y_train": None, "x_val": None, "y_val": None, "x_test": None, "y_test": None,
    "x": None, "y": None, "allow_pickle": False, "test_fraction": 0.1, "test_split": "random",
    "split_seed": 0, "download": None, "info": None, "extras": None, "lazy_inputs": False,
}
X_OPTS = {"add_channel_axis": False, "scale": None, "append_grid": False, "dtype": "float32"}
Y_OPTS = {"offset": 0, "dtype": None, "add_channel_axis": False, "scale": None}
SPEC_KEYS = {"file", "key", "slice", "reshape", "transpose", "encoding", "format"}
_EXTRA_RE = re.compile(r"^[a-z][a-z0-9_]*_(train|val|test)$")


# ----------------------------------------------------------------------------- args
def _args(args: dict) -> dict:
    a = check_args("arrays", args, DEFAULT_ARGS)
    for f in ("x_train", "y_train"):
        if a[f] is None:
            raise ValueError(f"loader 'arrays' needs args.{f}")
    if (a["x_test"] is None) != (a["y_test"] is None):
        raise ValueError("loader 'arrays': give both x_test and y_test, or neither (then test_fraction splits)")
    if (a["x_val"] is None) != (a["y_val"] is None):
        raise ValueError("loader 'arrays': give both x_val and y_val, or neither")
    if a["test_split"] not in ("random", "first", "last"):
        raise ValueError(f"loader 'arrays': test_split must be random, first or last, got {a['test_split']!r}")
    check_args("arrays (x)", a["x"] or {}, X_OPTS)
    check_args("arrays (y)", a["y"] or {}, Y_OPTS)
    _extra_specs(a)  # validates args.extras
    if a["lazy_inputs"]:
        _check_lazy(a)
    return a


def _check_lazy(a: dict) -> None:
    """lazy_inputs: true or false; the x specs' slice / transpose must keep axis 0 the samples."""
    if a["lazy_inputs"] is not True:
        raise ValueError(f"loader 'arrays': lazy_inputs must be true or false, got {a['lazy_inputs']!r}")
    if np.dtype((a["x"] or {}).get("dtype") or "float32") != np.float32:
        raise ValueError(f"loader 'arrays': lazy_inputs reads x as float32; drop args.x.dtype "
                         f"{a['x']['dtype']!r} (or set lazy_inputs: false)")
    for f in ("x_train", "x_val", "x_test"):
        if a[f] is not None:
            _row_part(_spec(a[f], f), f)


def _row_part(spec: dict, field: str) -> tuple[slice, tuple]:
    """A spec's slice split into the rows it selects and the index of each sample; ValueError when its first
    item does not select rows (an int or ``...``) or its transpose moves axis 0 (lazy_inputs reads rows)."""
    idx = parse_slice(spec.get("slice"))
    hint = (f"loader 'arrays': lazy_inputs reads args.{field} a batch of rows at a time, so axis 0 must stay the "
            "samples")
    if idx and not isinstance(idx[0], slice):
        raise ValueError(f"{hint}: its slice {spec['slice']!r} must start with a range of rows (e.g. ':1000, ::5'), "
                         "not an index or '...'")
    axes = spec.get("transpose")
    if axes is not None and (len(axes) == 0 or int(axes[0]) != 0):
        raise ValueError(f"{hint}: its transpose {list(axes)} must start with 0")
    return (idx[0] if idx else slice(None)), tuple(idx[1:])


def _spec(value, field: str) -> dict:
    spec = {"file": value} if isinstance(value, str) else dict(value or {})
    unknown = set(spec) - SPEC_KEYS
    if unknown or "file" not in spec:
        raise ValueError(f"loader 'arrays': args.{field} must be a file name or a mapping with 'file' "
                         f"(and optional {sorted(SPEC_KEYS - {'file'})}); got {value!r}")
    return spec


def _specs(a: dict) -> dict[str, dict]:
    return {f: _spec(a[f], f) for f in FIELDS if a[f] is not None}


def _extra_specs(a: dict) -> dict[str, dict]:
    """args.extras -> {"<name>_<part>": spec}; part train, val or test, following x_val / x_test."""
    extras = dict(a["extras"] or {})
    bad = sorted(k for k in extras if not _EXTRA_RE.match(k))
    if bad:
        raise ValueError(f"loader 'arrays': args.extras keys {bad} must be <name>_train, <name>_val or <name>_test")
    for key in extras:
        name, _, part = key.rpartition("_")
        if part != "train" and a[f"x_{part}"] is None:
            raise ValueError(f"loader 'arrays': args.extras.{key} needs args.x_{part}")
        if part == "val" and f"{name}_train" not in extras:
            raise ValueError(f"loader 'arrays': args.extras.{key} needs {name}_train as well")
        if part == "train" and a["x_val"] is not None and f"{name}_val" not in extras:
            raise ValueError(f"loader 'arrays': args.extras.{key}: the training part includes x_val, so give "
                             f"{name}_val as well")
    return {k: _spec(v, f"extras.{k}") for k, v in extras.items()}


def _outer_file(spec: dict) -> str:
    return spec["file"].split("::", 1)[0]


def _root(a: dict, data_dir: Path) -> Path:
    r = Path(a["root"])
    return r if r.is_absolute() else Path(data_dir) / r


def file_names(args: dict) -> list[str]:
    """The distinct files (outer archives included) the args refer to, in order."""
    a = _args(args)
    seen: list[str] = []
    for spec in [*_specs(a).values(), *_extra_specs(a).values()]:
        name = _outer_file(spec)
        if name not in seen:
            seen.append(name)
    return seen


def _grid_channels(n: int, h: int, w: int) -> np.ndarray:
    gy, gx = np.meshgrid(np.linspace(0, 1, h, dtype=np.float32), np.linspace(0, 1, w, dtype=np.float32),
                         indexing="ij")
    return np.broadcast_to(np.stack([gy, gx])[None], (n, 2, h, w))


def _fix_x(x: np.ndarray, opts: dict, where: str = "arrays loader") -> np.ndarray:
    o = {**X_OPTS, **(opts or {})}
    x = as_float32(x, where) if np.dtype(o["dtype"]) == np.float32 else np.asarray(x, dtype=o["dtype"])
    if o["scale"] is not None:
        x = x * np.float32(o["scale"])
    if o["add_channel_axis"] or x.ndim == 2:
        x = x[:, None]
    if o["append_grid"]:
        if x.ndim != 4:
            raise DataFormatError(f"append_grid needs (N, C, H, W) inputs, got {x.shape}")
        x = np.concatenate([x, _grid_channels(len(x), x.shape[2], x.shape[3])], axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def _fix_y(y: np.ndarray, opts: dict, where: str = "arrays loader") -> np.ndarray:
    o = {**Y_OPTS, **(opts or {})}
    y = numeric_targets(y, where) if not o["dtype"] else np.asarray(y)
    if o["dtype"]:
        y = y.astype(o["dtype"])
    if o["offset"]:
        y = y + o["offset"]
    if o["scale"] is not None:
        y = y * o["scale"]
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        y = y.astype(np.int64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
    else:
        y = y.astype(np.float32)
        if y.ndim == 1:
            y = y[:, None]
    if o["add_channel_axis"]:
        y = y[:, None]
    return y


def _split_indices(n: int, a: dict) -> tuple[np.ndarray, np.ndarray]:
    n_test = max(1, int(round(float(a["test_fraction"]) * n)))
    if a["test_split"] == "first":
        te, tr = np.arange(n_test), np.arange(n_test, n)
    elif a["test_split"] == "last":
        tr, te = np.arange(n - n_test), np.arange(n - n_test, n)
    else:  # a fixed seeded permutation: the same test set for every run seed
        perm = np.random.default_rng(int(a["split_seed"])).permutation(n)
        te, tr = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    return tr, te


def _split(x, y, a: dict):
    """The fixed train/test split of the args (test_fraction, test_split, split_seed); the same for every run seed."""
    tr, te = _split_indices(len(x), a)
    if is_lazy(x):
        return x.rows(tr), y[tr], x.rows(te), y[te]
    return x[tr], y[tr], x[te], y[te]


def _index_items(items: tuple) -> list:
    """A numpy index of sample axes -> the JSON items of the per-batch ``index`` step."""
    return ["..." if it is Ellipsis else [it.start, it.stop, it.step] if isinstance(it, slice) else int(it)
            for it in items]


def _spec_steps(spec: dict, field: str, base: RowSource) -> tuple[list | None, list[dict]]:
    """A spec's slice / reshape / transpose as (row range, per-batch steps) over the raw rows of ``base``."""
    rows, sample_index = _row_part(spec, field)
    steps = [{"op": "index", "items": _index_items(sample_index)}] if sample_index else []
    n = len(range(*rows.indices(base.n_rows)))
    if spec.get("reshape") is not None:
        per_sample = int(np.prod(MappedSource(base, steps).sample_shape))
        sample = _sample_reshape([int(v) for v in spec["reshape"]], n, per_sample)
        if sample is None:
            raise DataFormatError(f"arrays loader (lazy_inputs): args.{field} reshape {list(spec['reshape'])} must "
                                  f"keep the {n} samples on axis 0 ([-1 or {n}, ...] with {per_sample} values per "
                                  "sample), because each batch of rows is reshaped on its own")
        steps.append({"op": "reshape", "shape": sample})
    if spec.get("transpose") is not None:
        steps.append({"op": "transpose", "axes": [int(v) for v in spec["transpose"]]})
    row_range = None if rows == slice(None) else [rows.start, rows.stop, rows.step]
    return row_range, steps


def _sample_reshape(shape: list[int], n: int, per_sample: int) -> list[int] | None:
    """The per-sample part of a whole-array reshape of ``n`` samples of ``per_sample`` values, or None when the
    reshape does not keep one sample per row (then it cannot be applied a batch at a time)."""
    if not shape or shape[0] not in (-1, n):
        return None
    rest = shape[1:]
    known = int(np.prod([v for v in rest if v != -1]))
    if rest.count(-1) == 0:
        return rest if known == per_sample else None
    if rest.count(-1) > 1 or shape[0] == -1 or known == 0 or per_sample % known:
        return None
    return [per_sample // known if v == -1 else v for v in rest]


def _x_steps(opts: dict | None, sample_ndim: int) -> list[dict]:
    """args.x as per-batch steps, in the order _fix_x applies them (every source reads float32; x.dtype other
    than float32 is refused by _check_lazy)."""
    o = {**X_OPTS, **(opts or {})}
    steps: list[dict] = []
    if o["scale"] is not None:
        steps.append({"op": "scale", "value": float(o["scale"])})
    if o["add_channel_axis"] or sample_ndim == 1:
        steps.append({"op": "channel_axis"})
    if o["append_grid"]:
        steps.append({"op": "grid"})
    return steps


def _lazy_source(field: str, spec: dict, a: dict, root: Path, data_dir: Path) -> RowSource:
    """An x spec -> the rows _fix_x(read_array(spec)) would give, read a batch at a time (nothing read yet)."""
    base = open_rows(spec, root, data_dir, bool(a["allow_pickle"]))
    try:
        row_range, steps = _spec_steps(spec, field, base)
        shaped = MappedSource(base, steps, row_range)
        steps += _x_steps(a["x"], len(shaped.sample_shape))
        return MappedSource(base, steps, row_range) if steps or row_range else base
    except DataFormatError:
        raise
    except ValueError as e:
        raise DataFormatError(f"arrays loader (lazy_inputs): args.{field} ({root / spec['file']}): {e}") from e


def _lazy_inputs(a: dict, specs: dict, root: Path, data_dir: Path) -> dict[str, LazyRows]:
    """x_train (x_val joined to it) and x_test as LazyRows."""
    src = {f: _lazy_source(f, specs[f], a, root, data_dir) for f in ("x_train", "x_val", "x_test") if f in specs}
    if "x_val" in src:
        try:
            src["x_train"] = ConcatSource([src["x_train"], src.pop("x_val")])
        except ValueError as e:
            raise DataFormatError(f"arrays loader (lazy_inputs): x_train and x_val: {e}") from e
    return {f: LazyRows(s) for f, s in src.items()}


def _read_extras(a: dict, root: Path, n_train: int) -> dict[str, np.ndarray]:
    """TaskData.extras from args.extras: _val joins _train; without x_test, _train is split like x."""
    raw = {k: read_array(s, root, bool(a["allow_pickle"])) for k, s in _extra_specs(a).items()}
    out: dict[str, np.ndarray] = {}
    for key, arr in raw.items():
        name, _, part = key.rpartition("_")
        if part == "val":
            continue
        if part == "train" and f"{name}_val" in raw:
            arr = np.concatenate([arr, raw[f"{name}_val"]])
        out[key] = arr
    for key in [k for k in out if k.endswith("_train")]:
        if len(out[key]) != n_train:
            raise DataFormatError(f"arrays loader: extras.{key} has {len(out[key])} rows for {n_train} "
                                  "training samples")
        if a["x_test"] is None:
            tr, te = _split_indices(n_train, a)
            name = key[: -len("_train")]
            out[key], out[f"{name}_test"] = out[key][tr], out[key][te]
    return out


# ----------------------------------------------------------------------------- registry
def fetch_arrays(args: dict, data_dir: Path) -> None:
    a = _args(args)
    ensure_files(file_names(args), _root(a, data_dir), a["download"])


def _fingerprint(args: dict, data_dir: Path) -> list:
    a = _args(args)
    root = _root(a, data_dir)
    out = []
    for name in file_names(args):
        p = root / name
        out.append([name, os.stat(p).st_size, os.stat(p).st_mtime_ns] if p.is_file() else [name])
    if a["lazy_inputs"]:  # the HDF5 file is the cache of the inputs: key on where it is and what it holds
        for f in ("x_train", "x_test"):
            if a[f] is not None:
                name = _spec(a[f], f)["file"]
                out.append(["lazy", f, str((root / name).resolve()), _recorded_sha256(root, name)])
    return out


def _recorded_sha256(root: Path, name: str) -> str | None:
    """sha256 of ``name`` as recorded by a prepare step (``<root>/*.prepare.json``), or None."""
    import json

    for prov in sorted(Path(root).glob("*.prepare.json")):
        try:
            outputs = json.loads(prov.read_text()).get("outputs") or []
        except (OSError, ValueError):
            continue
        for o in outputs:
            if isinstance(o, dict) and o.get("name") == name and o.get("sha256"):
                return str(o["sha256"])
    return None


@register_loader("arrays", fetch=fetch_arrays, fingerprint=_fingerprint)
def load_arrays(args: dict, seed: int, data_dir: Path) -> TaskData:
    """Named arrays in container files -> TaskData (see the module docstring for the args)."""
    a = _args(args)
    root = _root(a, data_dir)
    specs = _specs(a)
    if a["lazy_inputs"]:  # x stays on disk: the transforms of _fix_x are applied to each batch read
        arr = {f: read_array(s, root, bool(a["allow_pickle"])) for f, s in specs.items() if f[0] == "y"}
        arr.update(_lazy_inputs(a, specs, root, Path(data_dir)))
        sizes = {f: len(arr[f]) for f in ("x_train", "x_test") if f in arr}
        sizes["y_train"] = len(arr["y_train"]) + (len(arr["y_val"]) if "y_val" in arr else 0)
        if "y_test" in arr:
            sizes["y_test"] = len(arr["y_test"])
    else:
        arr = {f: read_array(s, root, bool(a["allow_pickle"])) for f, s in specs.items()}
        sizes = {f: len(v) for f, v in arr.items()}
    for xf, yf in (("x_train", "y_train"), ("x_val", "y_val"), ("x_test", "y_test")):
        if xf in sizes and yf in sizes and sizes[xf] != sizes[yf]:
            raise DataFormatError(f"arrays loader: {xf} has {sizes[xf]} samples but {yf} {sizes[yf]}"
                                  f"{' (x_train includes x_val)' if xf == 'x_train' and 'y_val' in arr else ''}")
    fix_x = (lambda x, _opts, _where: x) if a["lazy_inputs"] else _fix_x  # lazy: applied per batch already
    def at(field):
        return f"arrays loader, {root / _outer_file(specs[field])} ({field})"

    xtr, ytr = fix_x(arr["x_train"], a["x"], at("x_train")), _fix_y(arr["y_train"], a["y"], at("y_train"))
    n_val = len(arr["y_val"]) if "y_val" in arr else 0
    extras = _read_extras(a, root, len(ytr) + n_val) if a["extras"] else {}
    if "x_val" in arr:
        xtr = np.concatenate([xtr, _fix_x(arr["x_val"], a["x"], at("x_val"))])
    if "y_val" in arr:
        ytr = np.concatenate([ytr, _fix_y(arr["y_val"], a["y"], at("y_val"))])
    if "x_test" in arr:
        xte, yte = fix_x(arr["x_test"], a["x"], at("x_test")), _fix_y(arr["y_test"], a["y"], at("y_test"))
    else:
        xtr, ytr, xte, yte = _split(xtr, ytr, a)
    if xtr.shape[1:] != xte.shape[1:]:
        raise DataFormatError(f"arrays loader: train samples {xtr.shape[1:]} and test samples "
                              f"{xte.shape[1:]} differ in shape")
    if xtr.ndim not in (3, 4):
        raise DataFormatError(f"arrays loader: inputs {xtr.shape} are not (N, C, L) or (N, C, H, W); "
                              "use transpose / add_channel_axis")
    info = {"source": f"arrays:{root}", "files": file_names(args)}
    if ytr.dtype == np.int64 and ytr.ndim == 1 and ytr.size and yte.size:  # empty splits: named by the data checks
        info.update(task="classification", num_classes=int(max(ytr.max(), yte.max()) + 1))
    info.update(dict(a["info"] or {}))
    try:
        return TaskData(xtr, ytr, xte, yte, info, extras)
    except ValueError as e:
        raise DataFormatError(f"arrays loader: {e}") from e
