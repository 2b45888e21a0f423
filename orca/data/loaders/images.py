"""``sklearn_images`` loader: small image sets bundled with scikit-learn."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core import TaskData, check_args, register_loader

DEFAULT_ARGS = {"name": "digits", "test_size": 0.2}


def _digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    b = load_digits()
    x = (b.images / 16.0).astype(np.float32)[:, None, :, :]  # (N, 1, 8, 8), in [0, 1]
    return x, b.target.astype(np.int64), [str(t) for t in b.target_names]


IMAGE_SETS = {"digits": _digits}


@register_loader("sklearn_images")
def load_sklearn_images(args: dict, seed: int, data_dir: Path) -> TaskData:
    """Image set -> x (N, 1, H, W) float32 in [0, 1], y (N,) int64; stratified seeded split."""
    from sklearn.model_selection import train_test_split

    a = check_args("sklearn_images", args, DEFAULT_ARGS)
    if a["name"] not in IMAGE_SETS:
        raise ValueError(f"unknown sklearn image set {a['name']!r}; allowed: {sorted(IMAGE_SETS)}")
    x, y, names = IMAGE_SETS[a["name"]]()
    tr, te = train_test_split(np.arange(len(y)), test_size=float(a["test_size"]),
                              random_state=int(seed), stratify=y)
    tr, te = np.sort(tr), np.sort(te)
    info = {"task": "classification", "num_classes": len(names), "class_names": names,
            "source": f"sklearn:{a['name']}", "seed": int(seed)}
    return TaskData(x[tr], y[tr], x[te], y[te], info)
