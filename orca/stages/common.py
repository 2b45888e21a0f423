"""The skeleton every stage shares: setup (output check, settings, device, seed, data) and checkpoint resume.

Every stage runs one job: its settings (``orca.spec.jobs.JobSettings``, the document the planner or the CLI
resolved) and its :class:`JobIO` (paths and device). align, refine and baselines call :func:`setup` first, in
the same order (so the random streams, and the numbers, do not depend on the stage's own code), and the
training stages save and restore their state through :func:`snapshot` / :func:`resume`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.process import check_writable, pick_device, seed_everything
from ..data.taskdata import SplitData, prepare_split
from ..spec.jobs import JobSettings


@dataclass(frozen=True)
class JobIO:
    """Where a job reads and writes and what machine it uses: never part of its settings (no number depends on
    them). ``out``: the result file (align: the folder of embedder.pt and align.json); ``embedder``: an aligned
    embedder.pt to start refine from; ``source`` / ``embeddings``: align's source features and the body's saved
    input embeddings; ``checkpoint_every_s``: None = orca.training.checkpoint's default, 0 = every epoch."""
    out: Path
    data_dir: Path
    device: str | None = None
    checkpoint_dir: Path | None = None
    checkpoint_every_s: float | None = None
    embedder: Path | None = None
    source: Path | None = None
    embeddings: Path | None = None


@dataclass
class StageSetup:
    """What a stage starts from: its job (settings and hash), task view, device, seeded generator, data split."""
    job: JobSettings
    device: object  # torch.device; None for stages without torch (baselines)
    generator: object  # torch.Generator seeded with the run's seed; None without torch
    data: SplitData
    started: float

    @property
    def task(self):
        return self.job.task

    @property
    def settings(self) -> dict:
        return self.job.settings

    @property
    def settings_hash(self) -> str:
        return self.job.settings_hash


def setup(job: JobSettings, out_path: str | Path, data_dir: str | Path, device: str | None = None,
          uses_torch: bool = True, validation: bool = True) -> StageSetup:
    """Fail early on an unwritable ``out_path``, pick the device, seed everything with the job's seed (NumPy only
    when ``uses_torch`` is False), then load and check the data (orca.data.taskdata.prepare_split;
    ``validation=False``: no validation carve, the ``original`` protocol)."""
    started = time.time()
    check_writable(out_path)
    seed = job.job["seed"]
    if uses_torch:
        dev = pick_device(device)
        gen = seed_everything(seed)
    else:
        dev, gen = None, None
        np.random.seed(seed)
    data = prepare_split(job.task, seed, data_dir, validation=validation)
    return StageSetup(job, dev, gen, data, started)


def training_inputs(x):
    """Training inputs as the loops index them: a tensor sharing ``x``'s memory, or the LazyRows itself
    (out-of-core inputs, ``data.args.lazy_inputs``: rows are read when a batch asks for them)."""
    import torch

    from ..data.loaders.lazy import is_lazy

    return x if is_lazy(x) else torch.from_numpy(x)


def batch_rows(x_train, idx):
    """Rows ``idx`` (numpy or torch indices) of :func:`training_inputs`'s result, as a tensor."""
    import torch

    from ..data.loaders.lazy import is_lazy, read_rows

    return torch.from_numpy(read_rows(x_train, idx)) if is_lazy(x_train) else x_train[idx]


def snapshot(generator, **stateful) -> dict:
    """Checkpoint payload: each object's ``state_dict()`` under its name, plus every RNG state."""
    from ..training.checkpoint import rng_state

    return {**{name: obj.state_dict() for name, obj in stateful.items()}, "rng": rng_state(generator)}


def resume(checkpointer, generator, **stateful) -> dict | None:
    """Restore ``stateful`` objects and the RNG states from the checkpoint, if there is one; returns the rest of
    the saved state (the stage's own loop variables) or None when starting fresh."""
    from ..training.checkpoint import set_rng_state

    state = checkpointer.load()
    if state is None:
        return None
    for name, obj in stateful.items():
        obj.load_state_dict(state.pop(name))
    set_rng_state(state.pop("rng"), generator)
    return state
