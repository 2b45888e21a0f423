"""Stand-ins for the ``openml`` loader: a small mixed table written as the openml client's own cache
entry (``dataset.arff``, ``features.xml``, ``qualities.xml``, ``description.xml``) under
``<data_dir>/openml``, so fetch finds it complete and the client reads it as it reads a download.

The table: numeric columns, one nominal column with a missing value, a nominal target of three classes
(every class in both the train and the test part of the loader's split).
"""
from __future__ import annotations

from pathlib import Path


from ..data.loaders.openml_cache import dataset_cache_dir, openml_cache, write_cache_entry
from .registry import Size, register_writer

CLASSES = ["a", "b", "c"]


@register_writer("loader", "openml")
def write_openml(task, data_dir: Path, size: Size) -> list[Path]:
    import pandas as pd

    did = int(task.data.args["dataset_id"])
    rng = size.rng(task.name)
    n = max(size.train + size.test, 10 * len(CLASSES))
    df = pd.DataFrame({f"num{i}": rng.normal(size=n) for i in range(5)})
    df["colour"] = rng.choice(["red", "green", "blue"], n).astype(object)
    df.loc[3, "colour"] = None
    df["class"] = [CLASSES[i % len(CLASSES)] for i in range(n)]
    meta = {"name": f"rehearsal-standin-{did}", "target": "class",
            "nominal": {"colour": ["red", "green", "blue"], "class": CLASSES}}
    with openml_cache(data_dir):
        return write_cache_entry(did, df, meta, dataset_cache_dir(did),
                                 f"Rehearsal stand-in for OpenML dataset {did}: random values, not the data.")
