"""The ``openml`` client's local cache: where it lives, and entries written without a server.

``openml_cache`` points the client at ``data_dir/"openml"``; ``write_offline_copy`` writes a genuine cache entry
(description, features, qualities, ARFF) for the OpenML datasets scikit-learn bundles (iris = 61, wine = 187,
breast cancer = 1510), so the ``openml`` loader reads them through the real client with no network.
"""
from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a table is built: most jobs hit the prepared cache
    import pandas as pd

from ...runtime.process import atomic_write_bytes

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


