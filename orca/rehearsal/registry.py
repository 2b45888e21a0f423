"""The stand-in writers' registry: ``Size`` (samples per split) and ``register_writer``, imported by every
writer module and by :mod:`orca.rehearsal.standins`, which picks a writer for a task."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Size:
    """Samples per split of a stand-in (before any windowing or chunking of a prepare step)."""

    train: int = 24
    test: int = 8
    seed: int = 0

    def rng(self, salt: str = "") -> np.random.Generator:
        return np.random.default_rng([self.seed, sum(map(ord, salt))])


def prepared_root_and_args(task, data_dir: Path) -> tuple[Path, dict]:
    """Where ``task``'s prepare step reads its raw files, and the step's args with defaults filled."""
    from ..data.preparation.prepare import prepare_root, resolve_args

    prepare = task.prepare.mapping()
    return prepare_root(prepare, task.data.args, data_dir), resolve_args(prepare)


Writer = Callable[["object", Path, Size], list[Path]]
WRITERS: dict[str, Writer] = {}


def register_writer(kind: str, name: str):
    """Decorator: ``writer(task, data_dir, size) -> written paths`` for ``loader`` or ``prepare`` ``name``."""

    def deco(fn: Writer) -> Writer:
        WRITERS[f"{kind}:{name}"] = fn
        return fn

    return deco
