"""``openml`` loader: tabular datasets read through the official ``openml`` client.

Raw data lives in the client's own cache under ``data_dir/"openml"``. ``fetch``
either downloads it with the client, or (``offline_copy``) writes a genuine
OpenML cache entry built from scikit-learn's bundled copy of the same table.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a table is built: most jobs hit the prepared cache
    import pandas as pd

from ..core import (
    DataFormatError,
    DataUnavailableError,
    TaskData,
    check_args,
    register_loader,
)
from ..download.fetching import file_digest
from .openml_cache import (
    ARFF_FILE,
    DESCRIPTION_FILE,
    FEATURES_FILE,
    OFFLINE_COPIES,
    dataset_cache_dir,
    openml_cache,
    write_offline_copy,
)

DEFAULT_ARGS = {"dataset_id": None, "test_size": 0.1, "offline_copy": None}


# ----------------------------------------------------------------------------- fetch
def _cache_complete(did_dir: Path, dataset_id: int) -> bool:
    has_data = (did_dir / ARFF_FILE).is_file() or (did_dir / f"dataset_{dataset_id}.pq").is_file()
    return (did_dir / DESCRIPTION_FILE).is_file() and (did_dir / FEATURES_FILE).is_file() and has_data


def _manual_hint(dataset_id: int, did_dir: Path) -> str:
    import openml

    api = openml.config.server.rstrip("/")
    return (
        f"To place it by hand, save {api}/data/{dataset_id} as {did_dir / DESCRIPTION_FILE}, "
        f"{api}/data/features/{dataset_id} as {did_dir / FEATURES_FILE}, and the ARFF file "
        f"named by <oml:url> in that description as {did_dir / ARFF_FILE} "
        f"(or its parquet file as {did_dir / f'dataset_{dataset_id}.pq'}). "
        f"For datasets {sorted(v[0] for v in OFFLINE_COPIES.values())} you can instead set "
        f"args offline_copy to one of {sorted(OFFLINE_COPIES)}."
    )


def _probe_server(timeout_s: float = 10.0) -> None:
    """Open (and close) one TCP connection to the OpenML server; OSError if unreachable."""
    import openml

    u = urlparse(openml.config.server)
    port = u.port or (443 if u.scheme == "https" else 80)
    with socket.create_connection((u.hostname, port), timeout=timeout_s):
        pass


def fetch_openml(args: dict, data_dir: Path) -> None:
    """Fill the OpenML cache under ``data_dir/"openml"`` for ``args["dataset_id"]``."""
    import openml

    a = check_args("openml", args, DEFAULT_ARGS)
    if a["dataset_id"] is None:
        raise ValueError("loader 'openml' needs args.dataset_id")
    did = int(a["dataset_id"])
    with openml_cache(data_dir):
        did_dir = dataset_cache_dir(did)
        if _cache_complete(did_dir, did):
            return
        if a["offline_copy"]:
            write_offline_copy(did, a["offline_copy"], did_dir)
            return
        try:
            _probe_server()
            openml.datasets.get_dataset(did, download_data=True,
                                        download_features_meta_data=True)
        except Exception as e:  # network, server or checksum failure: one try only
            raise DataUnavailableError(
                f"OpenML dataset {did} is not in the local cache {did_dir} and could not be "
                f"downloaded from {openml.config.server}: {type(e).__name__}: {e}. "
                + _manual_hint(did, did_dir)
            ) from e
        if not _cache_complete(did_dir, did):
            raise DataUnavailableError(
                f"OpenML download of dataset {did} left an incomplete cache in {did_dir}. "
                + _manual_hint(did, did_dir)
            )


# ----------------------------------------------------------------------------- preprocessing
def _encode_features(x: pd.DataFrame, categorical: list[bool]) -> tuple[np.ndarray, list[str]]:
    """Numeric columns standardised on the full table (population std; a constant column is only centred),
    categorical ones one-hot in place (``col=value``, levels in category order, else sorted as text).
    -> features (N, 1, F) float32 and their names."""
    import pandas as pd

    blocks, names = [], []
    for c, flagged in zip(x.columns, categorical):
        col = x[c]
        if flagged or not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            if isinstance(col.dtype, pd.CategoricalDtype):
                present = set(col.unique())
                levels = [v for v in col.cat.categories if v in present]
            else:
                levels = sorted(col.unique(), key=str)
            vals = col.to_numpy()
            for v in levels:
                blocks.append((vals == v).astype(np.float64))
                names.append(f"{c}={v}")
        else:
            v = col.to_numpy(dtype=np.float64)
            sd = v.std()
            blocks.append((v - v.mean()) / (sd if sd > 0 else 1.0))
            names.append(str(c))
    if not blocks:
        raise DataFormatError("no feature column left after dropping NaN columns")
    return np.stack(blocks, axis=1).astype(np.float32)[:, None, :], names


def _encode_target(y: pd.Series) -> tuple[np.ndarray, dict]:
    """A categorical (or non-numeric) target label-encoded (sorted labels -> 0..K-1, int64 (N,)); a numeric one
    as float32 (N, 1). -> target and info (task, num_classes and class_names, or num_outputs)."""
    import pandas as pd

    if isinstance(y.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(y):
        classes, codes = np.unique(y.astype(str).to_numpy(), return_inverse=True)
        return codes.astype(np.int64), {"task": "classification", "num_classes": int(len(classes)),
                                        "class_names": [str(c) for c in classes]}
    return y.to_numpy(dtype=np.float32)[:, None], {"task": "regression", "num_outputs": 1}


def preprocess_table(
    x: pd.DataFrame,
    y: pd.Series,
    categorical: list[bool],
    test_size: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """ORCA's OpenML preprocessing, with a seeded split.

    Drops rows with a NaN label, then columns with any NaN; standardises numeric
    columns on the full table (mean 0, std 1, population std); one-hot encodes
    categorical columns (in place, names ``col=value``); label-encodes a
    categorical target (sorted labels -> 0..K-1) or keeps a numeric one as
    float32 (N, 1). Stratified split with ``random_state=seed``.

    Returns x_train, y_train, x_test, y_test (x: (N, 1, F) float32) and info.
    """
    from sklearn.model_selection import train_test_split

    if len(categorical) != x.shape[1]:
        raise ValueError(f"categorical has {len(categorical)} flags for {x.shape[1]} columns")
    keep_rows = y.notna().to_numpy()
    x, y = x.loc[keep_rows].reset_index(drop=True), y.loc[keep_rows].reset_index(drop=True)
    nan_cols = [c for c in x.columns if x[c].isna().any()]
    feats, names = _encode_features(x.drop(columns=nan_cols), [f for c, f in zip(x.columns, categorical)
                                                               if c not in nan_cols])
    target, target_info = _encode_target(y)
    info = {"feature_names": names, "dropped_rows_nan_label": int((~keep_rows).sum()),
            "dropped_columns_nan": [str(c) for c in nan_cols], **target_info}
    stratify = target if info["task"] == "classification" else None
    idx = np.arange(len(target))
    tr, te = train_test_split(idx, test_size=test_size, random_state=int(seed), stratify=stratify)
    tr, te = np.sort(tr), np.sort(te)
    info["test_index"] = te.tolist()
    return feats[tr], target[tr], feats[te], target[te], info


# ----------------------------------------------------------------------------- loader
def _check_md5(did_dir: Path, expected: str | None) -> None:
    path = did_dir / ARFF_FILE
    if not expected or not path.is_file():
        return
    got = file_digest(path, "md5")
    if got != expected:
        raise DataFormatError(
            f"{path} has md5 {got}, but its OpenML description says {expected}: the file is "
            f"corrupt or truncated. Delete {did_dir} and run fetch again."
        )


@register_loader("openml", fetch=fetch_openml)
def load_openml(args: dict, seed: int, data_dir: Path) -> TaskData:
    """OpenML table -> TaskData with x (N, 1, F) float32 and y (N,) int64 (or (N, 1) float32)."""
    import openml

    a = check_args("openml", args, DEFAULT_ARGS)
    fetch_openml(a, data_dir)
    did = int(a["dataset_id"])
    with openml_cache(data_dir):
        did_dir = dataset_cache_dir(did)
        try:
            ds = openml.datasets.get_dataset(did, download_data=True,
                                             download_features_meta_data=True)
            if ds.data_pickle_file is None:
                _check_md5(did_dir, ds.md5_checksum)
            x, y, categorical, _ = ds.get_data(target=ds.default_target_attribute)
        except (DataFormatError, DataUnavailableError):
            raise
        except Exception as e:
            raise DataFormatError(
                f"could not read OpenML dataset {did} from the cache {did_dir}: "
                f"{type(e).__name__}: {e}. Delete that folder and run fetch again."
            ) from e
    if y is None:
        raise DataFormatError(f"OpenML dataset {did} has no default target attribute")
    xtr, ytr, xte, yte, info = preprocess_table(x, y, list(categorical), float(a["test_size"]), seed)
    info.update(source=f"openml:{did}", dataset_name=ds.name,
                target=str(ds.default_target_attribute), offline_copy=a["offline_copy"],
                md5_checksum=ds.md5_checksum, seed=int(seed))
    return TaskData(xtr, ytr, xte, yte, info)
