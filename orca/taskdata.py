"""A task's arrays for one seed: loaded by the task's loader, checked, and split into train/val/test."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import load_task_data
from .splits import train_val_indices
from .tasks import Task


class DataError(ValueError):
    """Data that do not match their task file; the message names the task, the problem and the fix."""


@dataclass
class SplitData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: dict

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def checksum(self) -> str:
        """sha256 of every array of the split (shapes, dtypes and bytes): what exactly a run saw."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()


def num_outputs(task: Task, y_train: np.ndarray, info: dict) -> int:
    """Classes (classification) or output channels, from the task file or else from the data."""
    given = task.spec["output"].get("num_outputs") or info.get("num_classes")
    if given:
        return int(given)
    if task.spec["output"]["kind"] == "classification":
        return int(y_train.max()) + 1
    return int(y_train.shape[1]) if y_train.ndim > 1 else 1


def check_arrays(task: Task, x: np.ndarray, y: np.ndarray, part: str) -> None:
    where = f"task {task.name!r} ({task.path}), {part} split"
    expected_dims = 3 if task.spec["input"]["modality"] == "1d" else 4
    if x.ndim != expected_dims:
        raise DataError(f"{where}: inputs have shape {x.shape}, expected {expected_dims - 1} dims per sample "
                        f"for modality {task.spec['input']['modality']}; fix input.modality or the loader")
    shape = task.spec["input"].get("shape")
    if shape and tuple(shape) != tuple(x.shape[1:]):
        raise DataError(f"{where}: samples have shape {tuple(x.shape[1:])} but the task file says input.shape "
                        f"{tuple(shape)}; correct input.shape")
    if len(x) != len(y):
        raise DataError(f"{where}: {len(x)} inputs but {len(y)} labels")
    if len(x) == 0:
        raise DataError(f"{where}: no samples")
    if not np.isfinite(x).all():
        raise DataError(f"{where}: inputs contain NaN or infinite values; clean the data or fix the loader")
    if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
        raise DataError(f"{where}: targets contain NaN or infinite values")


def prepare_split(task: Task, seed: int, data_dir: str | Path) -> SplitData:
    """Load the task's data for ``seed`` and carve a seeded validation split from the training part."""
    data = load_task_data(task.spec["data"]["loader"], task.spec["data"]["args"], seed, Path(data_dir))
    check_arrays(task, data.x_train, data.y_train, "train")
    check_arrays(task, data.x_test, data.y_test, "test")
    classification = task.spec["output"]["kind"] == "classification"
    tr, va = train_val_indices(data.y_train, task.spec["data"]["val_fraction"], seed, stratify=classification)
    if classification:
        k = num_outputs(task, data.y_train, data.info)
        missing = sorted(set(range(k)) - set(np.unique(data.y_train[tr]).tolist()))
        if missing:
            raise DataError(f"task {task.name!r}: classes {missing} have no training samples; "
                            "check the labels or num_outputs")
    f32 = np.float32
    return SplitData(data.x_train[tr].astype(f32), data.y_train[tr], data.x_train[va].astype(f32),
                     data.y_train[va], data.x_test.astype(f32), data.y_test, dict(data.info))
