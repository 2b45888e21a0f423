"""``openml`` loader: tabular datasets read through the official ``openml`` client.

Raw data lives in the client's own cache under ``data_dir/"openml"``. ``fetch``
either downloads it with the client, or (``offline_copy``) writes a genuine
OpenML cache entry built from scikit-learn's bundled copy of the same table.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
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
from ...runtime import atomic_write_bytes
from ..download.fetching import file_digest

DEFAULT_ARGS = {"dataset_id": None, "test_size": 0.1, "offline_copy": None}

# Client file names inside <cache>/datasets/<id>/ (openml-python 0.14/0.15 layout).
DESCRIPTION_FILE = "description.xml"
FEATURES_FILE = "features.xml"
QUALITIES_FILE = "qualities.xml"
ARFF_FILE = "dataset.arff"

_OML_NS = "http://openml.org/openml"


# ----------------------------------------------------------------------------- offline copies
def _iris() -> tuple[pd.DataFrame, dict]:
    import pandas as pd

    from sklearn.datasets import load_iris

    b = load_iris()
    names = ["sepallength", "sepalwidth", "petallength", "petalwidth"]
    labels = ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    df = pd.DataFrame(b.data, columns=names)
    df["class"] = [labels[i] for i in b.target]
    meta = {"name": "iris", "target": "class", "nominal": {"class": labels},
            "creator": "R.A. Fisher", "upload_date": "2014-04-06T23:23:39"}
    return df, meta


def _wine() -> tuple[pd.DataFrame, dict]:
    import pandas as pd

    from sklearn.datasets import load_wine

    b = load_wine()
    names = ["Alcohol", "Malic_acid", "Ash", "Alcalinity_of_ash", "Magnesium",
             "Total_phenols", "Flavanoids", "Nonflavanoid_phenols", "Proanthocyanins",
             "Color_intensity", "Hue", "OD280/OD315_of_diluted_wines", "Proline"]
    labels = ["1", "2", "3"]
    df = pd.DataFrame({"class": [labels[i] for i in b.target]})
    df = pd.concat([df, pd.DataFrame(b.data, columns=names)], axis=1)
    meta = {"name": "wine", "target": "class", "nominal": {"class": labels}}
    return df, meta


def _wdbc() -> tuple[pd.DataFrame, dict]:
    import pandas as pd

    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    names = [f"V{i}" for i in range(1, 31)]
    # OpenML wdbc codes benign as "1" (357 rows) and malignant as "2";
    # scikit-learn codes malignant 0, benign 1.
    df = pd.DataFrame(b.data, columns=names)
    df["Class"] = np.where(b.target == 1, "1", "2")
    meta = {"name": "wdbc", "target": "Class", "nominal": {"Class": ["1", "2"]}}
    return df, meta


# offline_copy value -> (OpenML dataset id, builder)
OFFLINE_COPIES = {
    "sklearn:iris": (61, _iris),
    "sklearn:wine": (187, _wine),
    "sklearn:breast_cancer": (1510, _wdbc),
}


# ----------------------------------------------------------------------------- client config
@contextlib.contextmanager
def openml_cache(data_dir: Path) -> Iterator[Path]:
    """Point the openml client at ``data_dir/"openml"`` with one try per request.

    Yields the client's cache dir for the configured server; restores the
    previous root cache dir and retry setting afterwards.
    """
    import openml

    cfg = openml.config
    old_root, old_retries = cfg._root_cache_directory, cfg.connection_n_retries
    root = Path(data_dir) / "openml"
    root.mkdir(parents=True, exist_ok=True)
    cfg.set_root_cache_directory(root)
    cfg.connection_n_retries = 1
    try:
        yield Path(cfg.get_cache_directory())
    finally:
        cfg.set_root_cache_directory(old_root)
        cfg.connection_n_retries = old_retries


def dataset_cache_dir(dataset_id: int) -> Path:
    """Directory the openml client uses for ``dataset_id`` (inside :func:`openml_cache`)."""
    import openml

    return Path(openml.config.get_cache_directory()) / "datasets" / str(int(dataset_id))



def _xml(root: str, body: dict) -> bytes:
    import xmltodict

    doc = {root: {"@xmlns:oml": _OML_NS, **body}}
    return xmltodict.unparse(doc, pretty=True, encoding="utf-8").encode("utf-8")


def write_offline_copy(dataset_id: int, offline_copy: str, did_dir: Path) -> list[Path]:
    """Write an OpenML cache entry for ``dataset_id`` from scikit-learn's bundled copy.

    Files (openml-python 0.15 layout): dataset.arff, features.xml,
    qualities.xml, then description.xml last (its presence marks the entry
    complete). The client itself adds its pickle caches on first read.
    Returns the written paths.
    """
    if offline_copy not in OFFLINE_COPIES:
        raise ValueError(f"unknown offline_copy {offline_copy!r}; allowed: {sorted(OFFLINE_COPIES)}")
    expected_id, build = OFFLINE_COPIES[offline_copy]
    if int(dataset_id) != expected_id:
        raise ValueError(
            f"offline_copy {offline_copy!r} is OpenML dataset {expected_id}, not {dataset_id}"
        )
    df, meta = build()
    note = (f"Offline copy of OpenML dataset {dataset_id} ({meta['name']}) rebuilt by orca-bench "
            f"from scikit-learn {_sklearn_version()} ({offline_copy}).")
    return write_cache_entry(dataset_id, df, meta, did_dir, note)


def write_cache_entry(dataset_id: int, df: pd.DataFrame, meta: dict, did_dir: Path, note: str) -> list[Path]:
    """Write ``df`` as the openml client's cache entry of ``dataset_id`` (see :func:`write_offline_copy`).

    ``meta``: name, target column, ``nominal`` {column: category list}, optional creator / upload_date.
    """
    import arff
    import openml

    nominal = meta["nominal"]
    did_dir.mkdir(parents=True, exist_ok=True)

    attributes = [(c, nominal[c] if c in nominal else "REAL") for c in df.columns]
    arff_text = arff.dumps({"relation": meta["name"], "description": note,
                            "attributes": attributes, "data": df.values.tolist()})
    arff_bytes = arff_text.encode("utf-8")
    paths = [did_dir / ARFF_FILE, did_dir / FEATURES_FILE, did_dir / QUALITIES_FILE,
             did_dir / DESCRIPTION_FILE]
    atomic_write_bytes(paths[0], arff_bytes)

    features = []
    for i, c in enumerate(df.columns):
        f = {"oml:index": str(i), "oml:name": c,
             "oml:data_type": "nominal" if c in nominal else "numeric"}
        if c in nominal:
            f["oml:nominal_value"] = list(nominal[c])
        f.update({"oml:is_target": str(c == meta["target"]).lower(),
                  "oml:is_ignore": "false", "oml:is_row_identifier": "false",
                  "oml:number_of_missing_values": str(int(df[c].isna().sum()))})
        features.append(f)
    atomic_write_bytes(paths[1], _xml("oml:data_features", {"oml:feature": features}))

    y = df[meta["target"]]
    counts = y.value_counts()
    q = {"NumberOfInstances": len(df), "NumberOfFeatures": df.shape[1],
         "NumberOfClasses": int(y.nunique()),
         "NumberOfMissingValues": int(df.isna().sum().sum()),
         "NumberOfInstancesWithMissingValues": int(df.isna().any(axis=1).sum()),
         "NumberOfNumericFeatures": df.shape[1] - len(nominal),
         "NumberOfSymbolicFeatures": len(nominal),
         "MajorityClassSize": int(counts.max()), "MinorityClassSize": int(counts.min())}
    qual = [{"oml:name": k, "oml:value": f"{float(v):.1f}"} for k, v in q.items()]
    atomic_write_bytes(paths[2], _xml("oml:data_qualities", {"oml:quality": qual}))

    base = openml.config.get_server_base_url()
    desc = {
        "oml:id": str(int(dataset_id)), "oml:name": meta["name"], "oml:version": "1",
        "oml:description": note, "oml:format": "ARFF",
        **({"oml:creator": meta["creator"]} if "creator" in meta else {}),
        **({"oml:upload_date": meta["upload_date"]} if "upload_date" in meta else {}),
        "oml:licence": "Public",
        "oml:url": f"{base}/data/v1/download/{int(dataset_id)}/{meta['name']}.arff",
        "oml:default_target_attribute": meta["target"], "oml:version_label": "1",
        "oml:visibility": "public", "oml:status": "active",
        "oml:md5_checksum": hashlib.md5(arff_bytes).hexdigest(),
    }
    atomic_write_bytes(paths[3], _xml("oml:data_set_description", desc))
    return paths


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


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
    import pandas as pd

    from sklearn.model_selection import train_test_split

    if len(categorical) != x.shape[1]:
        raise ValueError(f"categorical has {len(categorical)} flags for {x.shape[1]} columns")
    keep_rows = y.notna().to_numpy()
    x, y = x.loc[keep_rows].reset_index(drop=True), y.loc[keep_rows].reset_index(drop=True)
    nan_cols = [c for c in x.columns if x[c].isna().any()]
    cat_of = dict(zip(x.columns, categorical))

    blocks, names = [], []
    for c in x.columns:
        if c in nan_cols:
            continue
        col = x[c]
        is_cat = cat_of[c] or not (pd.api.types.is_numeric_dtype(col) or
                                   pd.api.types.is_bool_dtype(col))
        if is_cat:
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
    feats = np.stack(blocks, axis=1).astype(np.float32)[:, None, :]

    info: dict = {"feature_names": names, "dropped_rows_nan_label": int((~keep_rows).sum()),
                  "dropped_columns_nan": [str(c) for c in nan_cols]}
    y_is_cat = isinstance(y.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(y)
    if y_is_cat:
        labels = y.astype(str).to_numpy()
        classes, codes = np.unique(labels, return_inverse=True)
        target = codes.astype(np.int64)
        info.update(task="classification", num_classes=int(len(classes)),
                    class_names=[str(c) for c in classes])
        stratify = target
    else:
        target = y.to_numpy(dtype=np.float32)[:, None]
        info.update(task="regression", num_outputs=1)
        stratify = None
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
