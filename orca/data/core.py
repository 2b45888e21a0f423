"""Task data container, loader registry and the prepared-array cache.

A task names a loader (an on-disk format, e.g. ``openml`` or ``ucr``) plus the
loader's ``args``; the loader turns local raw files into a :class:`TaskData`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..runtime.process import atomic_output
from .checks import FLOAT32_MAX, DataFormatError, DataUnavailableError, as_float32, numeric_targets  # noqa: F401
from .loaders.lazy import LazyRows, is_lazy, source_from_json
# Bump when any loader's output changes, so old prepared files are not reused.
PREPARED_FORMAT_VERSION = 1

_ARRAY_FIELDS = ("x_train", "y_train", "x_test", "y_test")
_EXTRA_PREFIX = "extra__"  # prepared-file key prefix of TaskData.extras
_LAZY_PREFIX = "lazy__"  # prepared-file keys of out-of-core inputs: lazy__<field> (JSON: where the rows are,
# orca.data.loaders.lazy.RowSource.describe), lazy__<field>__rows (int64 row numbers)


@dataclass
class TaskData:
    """A train/test split of one task.

    x_*: float32, (N, C, L) for 1D/tabular inputs or (N, C, H, W) for 2D inputs.
    y_*: (N,) int64 class ids for classification; (N, K) float32 for
    regression / multi-label; (N, ...) for dense targets.
    info: JSON-serialisable metadata (num_classes, source, feature_names, ...).
    extras: optional per-sample side arrays named ``<name>_train`` / ``<name>_test``, one entry per
    sample of that part, e.g. ``clip_ids_test`` (N_test,) for per-clip evaluation (``eval.group_by``).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.x_train) != len(self.y_train):
            raise ValueError(f"x_train has {len(self.x_train)} rows, y_train {len(self.y_train)}")
        if len(self.x_test) != len(self.y_test):
            raise ValueError(f"x_test has {len(self.x_test)} rows, y_test {len(self.y_test)}")
        for key, arr in self.extras.items():
            name, _, part = key.rpartition("_")
            if not name or part not in ("train", "test"):
                raise ValueError(f"extra array {key!r}: name it <name>_train or <name>_test")
            if len(arr) != len(getattr(self, f"x_{part}")):
                raise ValueError(f"extra array {key!r} has {len(arr)} rows, x_{part} {len(getattr(self, f'x_{part}'))}")
        json.dumps(self.info)  # fail early if not JSON-serialisable


LoaderFn = Callable[[dict, int, Path], TaskData]
FetchFn = Callable[[dict, Path], None]

LOADERS: dict[str, LoaderFn] = {}
FETCHERS: dict[str, FetchFn] = {}
# Optional: extra cache-key material (e.g. size/mtime of a user file) per loader.
FINGERPRINTS: dict[str, Callable[[dict, Path], Any]] = {}


def register_loader(
    name: str,
    fetch: FetchFn | None = None,
    fingerprint: Callable[[dict, Path], Any] | None = None,
) -> Callable[[LoaderFn], LoaderFn]:
    """Decorator registering ``loader(args, seed, data_dir) -> TaskData`` under ``name``."""

    def deco(fn: LoaderFn) -> LoaderFn:
        if name in LOADERS and LOADERS[name] is not fn:
            raise ValueError(f"loader {name!r} registered twice")
        LOADERS[name] = fn
        if fetch is not None:
            FETCHERS[name] = fetch
        if fingerprint is not None:
            FINGERPRINTS[name] = fingerprint
        return fn

    return deco


def check_args(loader: str, args: dict, allowed: dict) -> dict:
    """Return ``allowed`` (defaults) updated by ``args``; unknown keys -> ValueError."""
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise ValueError(
            f"loader {loader!r}: unknown args {unknown}; allowed: {sorted(allowed)}"
        )
    out = dict(allowed)
    out.update(args)
    return out


def _require_loader(loader: str) -> None:
    if loader not in LOADERS:
        raise ValueError(f"unknown data loader {loader!r}; allowed loaders: {sorted(LOADERS)}")


def args_hash(loader: str, args: dict, data_dir: Path) -> str:
    """12 hex chars identifying (loader, args, format version, loader fingerprint)."""
    payload: dict[str, Any] = {"loader": loader, "args": args, "v": PREPARED_FORMAT_VERSION}
    if loader in FINGERPRINTS:
        payload["fingerprint"] = FINGERPRINTS[loader](args, Path(data_dir))
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def prepared_path(loader: str, args: dict, seed: int, data_dir: Path) -> Path:
    """Where :func:`load_task_data` caches the prepared split."""
    h = args_hash(loader, args, data_dir)
    return Path(data_dir) / "prepared" / f"{loader}-{h}-seed{int(seed)}.npz"


def save_prepared(data: TaskData, path: Path) -> None:
    """Write ``data`` to ``path`` (.npz, no pickles) atomically (orca.runtime.process.atomic_output)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(getattr(data, k)) for k in _ARRAY_FIELDS if not is_lazy(getattr(data, k))}
    for k in (k for k in _ARRAY_FIELDS if is_lazy(getattr(data, k))):  # their files hold them: store where
        x = getattr(data, k)
        arrays[_LAZY_PREFIX + k] = np.array(json.dumps(x.source.describe(), sort_keys=True))
        arrays[_LAZY_PREFIX + k + "__rows"] = x.indices
    arrays["info_json"] = np.array(json.dumps(data.info, sort_keys=True))
    arrays.update({_EXTRA_PREFIX + k: np.asarray(v) for k, v in data.extras.items()})
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def read_prepared(path: Path) -> TaskData:
    """Read a file written by :func:`save_prepared`; unreadable -> DataFormatError."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: _lazy_field(z, k) if _LAZY_PREFIX + k in z.files else z[k] for k in _ARRAY_FIELDS}
            info = json.loads(str(z["info_json"]))
            extras = {k[len(_EXTRA_PREFIX):]: z[k] for k in z.files if k.startswith(_EXTRA_PREFIX)}
    except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile) as e:
        raise DataFormatError(f"prepared cache file {path} is unreadable: {e}") from e
    return TaskData(info=info, extras=extras, **arrays)


def _lazy_field(z, k: str) -> LazyRows:
    """An out-of-core input recorded by :func:`save_prepared`: rows of a row source (HDF5 dataset, npy array,
    ...), reopened without reading them; a missing or changed file raises OSError / ValueError (rebuilt)."""
    where = json.loads(str(z[_LAZY_PREFIX + k]))
    return LazyRows(source_from_json(where), rows=z[_LAZY_PREFIX + k + "__rows"])


def fetch(loader: str, args: dict, data_dir: Path) -> None:
    """Make the raw data of ``loader``/``args`` available under ``data_dir``.

    No-op for packaged data. Raises :class:`DataUnavailableError` naming the
    missing file, its origin and how to place it by hand when it cannot be got.
    """
    _require_loader(loader)
    fn = FETCHERS.get(loader)
    if fn is not None:
        fn(dict(args), Path(data_dir))


def load_task_data(loader: str, args: dict, seed: int, data_dir: Path) -> TaskData:
    """Load the split for (loader, args, seed), from the prepared cache when present.

    A cache miss runs ``fetch`` then the loader and stores the result at
    ``data_dir/prepared/{loader}-{hash}-seed{seed}.npz``. A corrupt cache file
    is rebuilt. Out-of-core inputs (:class:`LazyRows`) are not copied: the cache
    records where their rows are (file, dataset or byte offset, per-batch steps) and the row indices.
    """
    _require_loader(loader)
    data_dir = Path(data_dir)
    args = dict(args)
    path = prepared_path(loader, args, seed, data_dir)
    if path.is_file():
        try:
            return read_prepared(path)
        except DataFormatError as e:
            warnings.warn(f"{e}; rebuilding it", stacklevel=2)
    fetch(loader, args, data_dir)
    data = LOADERS[loader](args, int(seed), data_dir)
    save_prepared(data, path)
    return data
