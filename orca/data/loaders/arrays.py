"""``arrays`` loader: arrays inside common container files, named by file and key in the args.

One loader for the on-disk formats the NAS-Bench-360 / ORCA rows ship in; the container format is
taken from the file name (or ``format``):

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
    download: [{name, urls, md5}]  # manifest entries for fetch (as data.files in the task file)
    extras: {clip_ids_test: {file: a.h5, key: clip_ids_test}}  # per-sample side arrays <name>_train/_val/_test
                                 # (same specs; _val joins _train; carried as TaskData.extras)
    lazy_inputs: false           # true: x_train / x_test stay on disk (HDF5 datasets, read a batch of rows
                                 # at a time, orca.data.loaders.lazy.LazyRows); y stays in memory. Needs plain
                                 # {file, key} x specs of .h5 files, no x transforms and no x_val

An array spec is either a file name (key-less formats) or a mapping with ``file`` and optionally
``key``, ``slice`` (numpy basic indexing written as a string: integers, ``:``, ``...``),
``reshape`` (e.g. ``[-1, 3, 32, 32]`` for CIFAR's flat rows), ``transpose`` (axes) and ``encoding`` (pickle text encoding, e.g. ``latin1`` for Python 2 pickles).
x comes out as float32 (N, C, L) or (N, C, H, W); integer y as int64 class ids; float y as float32.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import re
import tarfile
from pathlib import Path

import numpy as np

from ..core import DataFormatError, DataUnavailableError, TaskData, check_args, register_loader
from ..download.fetching import ensure_files
from .lazy import LazyRows, is_lazy

FIELDS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
DEFAULT_ARGS = {
    "root": ".", "x_train": None, "y_train": None, "x_val": None, "y_val": None, "x_test": None, "y_test": None,
    "x": None, "y": None, "allow_pickle": False, "test_fraction": 0.1, "test_split": "random",
    "split_seed": 0, "download": None, "info": None, "extras": None, "lazy_inputs": False,
}
X_OPTS = {"add_channel_axis": False, "scale": None, "append_grid": False, "dtype": "float32"}
Y_OPTS = {"offset": 0, "dtype": None, "add_channel_axis": False, "scale": None}
SPEC_KEYS = {"file", "key", "slice", "reshape", "transpose", "encoding", "format"}
FORMATS = ("npy", "npz", "pickle", "gzip-pickle", "mat", "hdf5")
_SLICE_RE = re.compile(r"^\s*-?\d*\s*(:\s*-?\d*\s*(:\s*-?\d*\s*)?)?$")
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
    """lazy_inputs: the x arrays must be whole HDF5 datasets used as stored (float, (N, C, ...))."""
    if a["lazy_inputs"] is not True:
        raise ValueError(f"loader 'arrays': lazy_inputs must be true or false, got {a['lazy_inputs']!r}")
    if a["x_val"] is not None:
        raise ValueError("loader 'arrays': lazy_inputs does not support x_val (it would be concatenated in memory)")
    if any(v not in (None, X_OPTS[k]) for k, v in (a["x"] or {}).items()):
        raise ValueError(f"loader 'arrays': lazy_inputs reads x as stored; drop args.x {a['x']} (store the "
                         "inputs transformed instead)")
    for f in ("x_train", "x_test"):
        if a[f] is None:
            continue
        spec = _spec(a[f], f)
        fmt = spec.get("format") or detect_format(spec["file"])
        if "::" in spec["file"] or fmt != "hdf5" or not spec.get("key") or set(spec) - {"file", "key", "format"}:
            raise ValueError(f"loader 'arrays': lazy_inputs needs args.{f} as {{file: <name>.h5, key: <dataset>}} "
                             f"(an HDF5 dataset read as stored, no slice/reshape/transpose); got {a[f]!r}")


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


# ----------------------------------------------------------------------------- reading
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


def read_array(spec: dict, root: Path, allow_pickle: bool, cache: dict | None = None) -> np.ndarray:
    """Read one array described by ``spec`` from files under ``root``."""
    outer, _, inner = spec["file"].partition("::")
    path = root / outer
    where = f"{path}{'::' + inner if inner else ''}{'[' + spec['key'] + ']' if spec.get('key') else ''}"
    if not path.is_file():
        raise DataUnavailableError(f"arrays loader: {path} not found; run `orca fetch` for this task first")
    fmt = spec.get("format") or detect_format(inner or outer)
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
def _grid_channels(n: int, h: int, w: int) -> np.ndarray:
    gy, gx = np.meshgrid(np.linspace(0, 1, h, dtype=np.float32), np.linspace(0, 1, w, dtype=np.float32),
                         indexing="ij")
    return np.broadcast_to(np.stack([gy, gx])[None], (n, 2, h, w))


def _fix_x(x: np.ndarray, opts: dict) -> np.ndarray:
    o = {**X_OPTS, **(opts or {})}
    x = np.asarray(x, dtype=o["dtype"])
    if o["scale"] is not None:
        x = x * np.float32(o["scale"])
    if o["add_channel_axis"] or x.ndim == 2:
        x = x[:, None]
    if o["append_grid"]:
        if x.ndim != 4:
            raise DataFormatError(f"append_grid needs (N, C, H, W) inputs, got {x.shape}")
        x = np.concatenate([x, _grid_channels(len(x), x.shape[2], x.shape[3])], axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def _fix_y(y: np.ndarray, opts: dict) -> np.ndarray:
    o = {**Y_OPTS, **(opts or {})}
    y = np.asarray(y)
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


def _split(x, y, a: dict, seed: int):
    tr, te = _split_indices(len(x), a)
    if is_lazy(x):
        return x.rows(tr), y[tr], x.rows(te), y[te]
    return x[tr], y[tr], x[te], y[te]


def _lazy_x(spec: dict, root: Path) -> LazyRows:
    """An x spec ``{file: a.h5, key: ds}`` -> LazyRows over the whole dataset (nothing read yet)."""
    path = root / spec["file"]
    if not path.is_file():
        raise DataUnavailableError(f"arrays loader: {path} not found; run `orca fetch` for this task first")
    try:
        return LazyRows(path, spec["key"])
    except (OSError, KeyError, ValueError) as e:
        raise DataFormatError(f"arrays loader (lazy_inputs): cannot use {path}[{spec['key']}]: {e}") from e


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
    lazy = {"x_train", "x_test"} & set(specs) if a["lazy_inputs"] else set()
    arr = {f: _lazy_x(s, root) if f in lazy else read_array(s, root, bool(a["allow_pickle"]))
           for f, s in specs.items()}
    for xf, yf in (("x_train", "y_train"), ("x_val", "y_val"), ("x_test", "y_test")):
        if xf in arr and len(arr[xf]) != len(arr[yf]):
            raise DataFormatError(f"arrays loader: {xf} has {len(arr[xf])} samples but {yf} {len(arr[yf])}")
    fix_x = (lambda x, _opts: x) if lazy else _fix_x  # lazy inputs are used as stored (checked in _args)
    xtr, ytr = fix_x(arr["x_train"], a["x"]), _fix_y(arr["y_train"], a["y"])
    extras = _read_extras(a, root, len(xtr) + (len(arr["x_val"]) if "x_val" in arr else 0)) if a["extras"] else {}
    if "x_val" in arr:
        xtr = np.concatenate([xtr, _fix_x(arr["x_val"], a["x"])])
        ytr = np.concatenate([ytr, _fix_y(arr["y_val"], a["y"])])
    if "x_test" in arr:
        xte, yte = fix_x(arr["x_test"], a["x"]), _fix_y(arr["y_test"], a["y"])
    else:
        xtr, ytr, xte, yte = _split(xtr, ytr, a, seed)
    if xtr.shape[1:] != xte.shape[1:]:
        raise DataFormatError(f"arrays loader: train samples {xtr.shape[1:]} and test samples "
                              f"{xte.shape[1:]} differ in shape")
    if xtr.ndim not in (3, 4):
        raise DataFormatError(f"arrays loader: inputs {xtr.shape} are not (N, C, L) or (N, C, H, W); "
                              "use transpose / add_channel_axis")
    info = {"source": f"arrays:{root}", "files": file_names(args)}
    if ytr.dtype == np.int64 and ytr.ndim == 1:
        info.update(task="classification", num_classes=int(max(ytr.max(), yte.max()) + 1))
    info.update(dict(a["info"] or {}))
    try:
        return TaskData(xtr, ytr, xte, yte, info, extras)
    except ValueError as e:
        raise DataFormatError(f"arrays loader: {e}") from e
