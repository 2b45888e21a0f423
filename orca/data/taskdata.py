"""A task's arrays for one seed: loaded by the task's loader, checked, and split into train/val/test.

Task-file options applied here (see orca/schemas/task.schema.yaml): ``data.normalize`` (fitted on the
training part only, after the validation carve), ``output.ignore`` (NaN / sentinel targets allowed)
and ``eval.group_by`` (per-sample group ids for validation and test scoring).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import load_task_data
from .core import as_float32
from .loaders.lazy import is_lazy
from .targets import ignore_mask
from .normalize import Normalizer, fit_normalizer
from .splits import train_val_indices
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the typed task (orca.spec.tasks); data preparation imports nothing above the data layer
    from ..spec.tasks import Task


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
    groups_val: np.ndarray | None = None  # (N_val,) group ids when eval.group_by and the data carry train ids
    groups_test: np.ndarray | None = None  # (N_test,) group ids when eval.group_by
    y_normalizer: Normalizer | None = None  # targets are raw; model outputs are decoded with it (data.normalize)
    crop_lengths_test: np.ndarray | None = None  # (N_test,) eval.original_crop.lengths: the original metric's crop

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def checksum(self) -> str:
        """sha256 of every array of the split (shapes, dtypes and bytes): what exactly a run saw.
        Out-of-core inputs are hashed block by block, to the same digest as the loaded arrays."""
        h = hashlib.sha256()
        groups = [g for g in (self.groups_val, self.groups_test) if g is not None]
        for a in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test, *groups):
            if is_lazy(a):
                a.update_hash(h)
                continue
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.tobytes())
        return h.hexdigest()


def num_outputs(task: Task, y_train: np.ndarray, info: dict) -> int:
    """Classes (classification) or output channels, from the task file or else from the data."""
    given = task.output.num_outputs or info.get("num_classes")
    if given:
        return int(given)
    if task.output.kind == "classification":
        return int(y_train.max()) + 1
    return int(y_train.shape[1]) if y_train.ndim > 1 else 1


def check_arrays(task: Task, x: np.ndarray, y: np.ndarray, part: str) -> None:
    where = f"task {task.name!r} ({task.path}), {part} split"
    expected_dims = 3 if task.input.modality == "1d" else 4
    if x.ndim != expected_dims:
        raise DataError(f"{where}: inputs have shape {x.shape}, expected {expected_dims - 1} dims per sample "
                        f"for modality {task.input.modality}; fix input.modality or the loader")
    shape = task.input.shape
    if shape and tuple(shape) != tuple(x.shape[1:]):
        raise DataError(f"{where}: samples have shape {tuple(x.shape[1:])} but the task file says input.shape "
                        f"{tuple(shape)}; correct input.shape")
    if len(x) != len(y):
        raise DataError(f"{where}: {len(x)} inputs but {len(y)} labels")
    if len(x) == 0:
        raise DataError(f"{where}: no samples; check the data file and the loader's split arguments "
                        "(data.args: test_size, slice, ...)")
    if not (x.all_finite() if is_lazy(x) else np.isfinite(x).all()):  # lazy: read block by block
        raise DataError(f"{where}: inputs contain NaN or infinite values; clean the data or fix the loader")
    ignore = task.output.ignore or {}
    if np.issubdtype(y.dtype, np.floating):
        bad = ~np.isfinite(y)
        if ignore.get("nan"):
            bad &= ~np.isnan(y)
        if bad.any():
            hint = "" if ignore.get("nan") else " (set output.ignore: {nan: true} if NaN marks a missing target)"
            raise DataError(f"{where}: targets contain NaN or infinite values{hint}")
    counted = ignore_mask(y, ignore)
    if counted is not None and not counted.any():
        raise DataError(f"{where}: every target entry is ignored (output.ignore {ignore}); nothing to learn or score")


def check_labels(task: Task, y: np.ndarray, k: int, part: str, info: dict) -> None:
    """Classification labels are whole numbers in [0, k); the message names the values, the data and the fix."""
    where = f"task {task.name!r} ({task.path}), data {info.get('source', task.data.loader)}, {part} split"
    if y.ndim != 1 or (y.dtype.kind == "f" and not np.array_equal(y, np.round(y))):
        raise DataError(f"{where}: classification labels must be one class id per sample, got {y.dtype} "
                        f"targets of shape {y.shape}; store integer ids 0..K-1 or set output.kind")
    bad = np.unique(y[(y < 0) | (y >= k)])
    if bad.size:
        origin = "output.num_outputs" if task.output.num_outputs else "the number of classes the data declare"
        raise DataError(f"{where}: labels {bad[:10].tolist()} lie outside [0, {k}) ({origin} is {k}); class ids "
                        f"must be 0..{k - 1}: renumber the labels in the data or correct output.num_outputs")


def check_target_width(task: Task, y: np.ndarray, k: int, part: str, info: dict) -> None:
    """Pooled regression / multilabel targets are (N, k) (or (N,) when k is 1), k the model's outputs per sample."""
    if y.shape[1:] == (k,) or (k == 1 and y.ndim == 1):
        return
    where = f"task {task.name!r} ({task.path}), data {info.get('source', task.data.loader)}, {part} split"
    origin = "output.num_outputs" if task.output.num_outputs else "the number of outputs the data declare"
    width = int(np.prod(y.shape[1:])) if y.ndim > 1 else 1
    raise DataError(f"{where}: labels have shape {y.shape} but {origin} is {k}, so the model gives {k} outputs per "
                    f"sample; set output.num_outputs to the labels' width ({width}) or fix the data to shape "
                    f"(N, {k})")


def prepare_split(task: Task, seed: int, data_dir: str | Path, validation: bool = True) -> SplitData:
    """Load the task's data for ``seed`` and carve a seeded validation split from the training part.

    ``validation=False`` (the ``original`` protocol): no carve; the whole training set trains and the
    validation part is empty.
    """
    data = load_task_data(task.data.loader, task.data.args, seed, Path(data_dir))
    check_arrays(task, data.x_train, data.y_train, "train")
    check_arrays(task, data.x_test, data.y_test, "test")
    classification = task.output.kind == "classification"
    if validation:
        tr, va = train_val_indices(data.y_train, task.data.val_fraction, seed, stratify=classification,
                                   groups=_train_groups(task, data.extras))
    else:
        tr, va = np.arange(len(data.y_train)), np.arange(0)
    if classification:
        k = num_outputs(task, data.y_train, data.info)
        check_labels(task, data.y_train, k, "train", data.info)
        check_labels(task, data.y_test, k, "test", data.info)
        missing = sorted(set(range(k)) - set(np.unique(data.y_train[tr]).tolist()))
        if missing:
            raise DataError(f"task {task.name!r}: classes {missing} have no training samples; "
                            "check the labels or num_outputs")
    elif task.output.kind in ("regression", "multilabel"):  # dense outputs take the targets' own shape
        k = num_outputs(task, data.y_train, data.info)
        check_target_width(task, data.y_train, k, "train", data.info)
        check_target_width(task, data.y_test, k, "test", data.info)
    if is_lazy(data.x_train):  # out-of-core inputs (data.args.lazy_inputs): views of rows, already float32
        x_tr, x_va, x_te = data.x_train.rows(tr), data.x_train.rows(va), data.x_test
    else:
        where = f"task {task.name!r} ({task.path}), data {data.info.get('source', task.data.loader)}"
        x_train, x_te = as_float32(data.x_train, f"{where}, train split"), as_float32(data.x_test, f"{where}, test split")
        x_tr, x_va = x_train[tr], x_train[va]
    split = SplitData(x_tr, data.y_train[tr], x_va, data.y_train[va], x_te, data.y_test, dict(data.info))
    split = _with_groups(task, split, data.extras, va)
    return _normalized(task, _with_crop_lengths(task, split, data.extras))


def _with_crop_lengths(task: Task, split: SplitData, extras: dict) -> SplitData:
    """Attach ``eval.original_crop.lengths``'s test array (the original protocol's PSICOV crop), when set."""
    crop = task.eval.original_crop
    if not crop:
        return split
    key = f"{crop['lengths']}_test"
    if key not in extras:
        raise DataError(f"task {task.name!r} ({task.path}): eval.original_crop.lengths is {crop['lengths']!r} but the "
                        f"data carry no {key!r} array (have: {sorted(extras) or 'none'}); add it to the loader "
                        f"(arrays loader: args.extras.{key})")
    lengths = np.asarray(extras[key]).reshape(-1)
    if len(lengths) != len(split.y_test):
        raise DataError(f"task {task.name!r}: {key} has {len(lengths)} entries for {len(split.y_test)} test samples")
    return replace(split, crop_lengths_test=lengths)


def _train_groups(task: Task, extras: dict) -> np.ndarray | None:
    """The training part's ``eval.group_by`` ids (whole groups go to validation), or None."""
    name = task.eval.group_by
    return extras.get(f"{name}_train") if name else None


def _with_groups(task: Task, split: SplitData, extras: dict, va: np.ndarray) -> SplitData:
    """Attach the ``eval.group_by`` ids: test ids required, validation ids when the training part has them."""
    name = task.eval.group_by
    if not name:
        return split
    if f"{name}_test" not in extras:
        raise DataError(f"task {task.name!r} ({task.path}): eval.group_by is {name!r} but the data carry no "
                        f"'{name}_test' array (have: {sorted(extras) or 'none'}); add it to the loader "
                        f"(arrays loader: args.extras.{name}_test)")
    train_ids = _train_groups(task, extras)
    return replace(split, groups_test=np.asarray(extras[f"{name}_test"]),
                   groups_val=None if train_ids is None else np.asarray(train_ids)[va])


def _normalized(task: Task, split: SplitData) -> SplitData:
    """Apply ``data.normalize``: statistics from the training part only, applied to train/val/test."""
    spec = task.data.normalize
    if not spec:
        return split
    where = f"task {task.name!r} ({task.path}): data.normalize"
    x_norm = None
    if spec.get("inputs") and is_lazy(split.x_train):
        raise DataError(f"{where}.inputs: fitting input statistics needs the inputs in memory, but this task "
                        "reads them out of core (data.args.lazy_inputs: true); store normalised inputs instead "
                        "or drop one of the two settings")
    if spec.get("inputs"):
        x_norm = _fit(spec["inputs"], split.x_train, None, f"{where}.inputs")
        split = replace(split, x_train=x_norm.encode(split.x_train), x_val=x_norm.encode(split.x_val),
                        x_test=x_norm.encode(split.x_test))
    if not spec.get("targets"):
        return split
    ignore = task.output.ignore
    if spec["targets"] == "inputs":
        if x_norm is None or split.y_train.shape[1:] != split.x_train.shape[1:]:
            raise DataError(f"{where}.targets is 'inputs': needs data.normalize.inputs and targets shaped like "
                            f"the inputs; targets are {split.y_train.shape[1:]}, inputs {split.x_train.shape[1:]}")
        y_norm = x_norm
    else:
        y_norm = _fit(spec["targets"], split.y_train, ignore_mask(split.y_train, ignore), f"{where}.targets")
    if spec.get("score_scale", "raw") == "raw":
        return replace(split, y_normalizer=y_norm)
    return replace(split, y_train=_encode_counted(y_norm, split.y_train, ignore),
                   y_val=_encode_counted(y_norm, split.y_val, ignore),
                   y_test=_encode_counted(y_norm, split.y_test, ignore))


def _fit(spec, train: np.ndarray, valid: np.ndarray | None, where: str) -> Normalizer:
    try:
        return fit_normalizer(spec, train, valid)
    except ValueError as e:
        raise DataError(f"{where}: {e}") from None


def _encode_counted(norm: Normalizer, y: np.ndarray, ignore: dict | None) -> np.ndarray:
    """Encoded targets; ignored entries keep their marker (NaN or the ignore value)."""
    valid = ignore_mask(y, ignore)
    enc = norm.encode(y).reshape(y.shape)
    return enc if valid is None else np.where(valid, enc, y).astype(np.float32)
