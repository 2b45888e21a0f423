"""Resumable training: atomic checkpoints with every RNG state, and a polite stop on SIGTERM/SIGUSR1.

A checkpoint file is keyed by the stage's settings hash, so a job whose settings changed never
resumes from a stale one. It is written atomically (temporary file + rename) and removed once the
job's result has been written. SLURM sends SIGTERM at its time limit and before preemption
(SIGUSR1 where ``--signal`` asks for it): the loop then saves at the next safe point and exits
with ``EXIT_PREEMPTED`` so the scheduler (or Snakemake's retries) can start it again.
"""
from __future__ import annotations

import random
import signal
from pathlib import Path

import numpy as np
import torch

from .runtime import atomic_torch_save

EXIT_PREEMPTED = 75  # EX_TEMPFAIL: "try again later"


class Preempted(SystemExit):
    """Raised after a checkpoint was saved because the job was asked to stop."""

    def __init__(self, where: str):
        super().__init__(EXIT_PREEMPTED)
        self.where = where


def rng_state(gen: torch.Generator) -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
             "generator": gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, gen: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    gen.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpointer:
    """Save/load one job's training state at ``<dir>/<settings_hash>.pt``; ``path=None`` disables it."""

    def __init__(self, directory: str | Path | None, settings_hash: str):
        self.path = Path(directory) / f"{settings_hash}.pt" if directory else None

    def load(self) -> dict | None:
        if self.path is None or not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as err:  # a torn file cannot happen (atomic rename), but a disk error can
            raise RuntimeError(f"checkpoint {self.path} cannot be read ({err}); delete it to start over") from err

    def save(self, state: dict) -> None:
        if self.path is not None:
            atomic_torch_save(state, self.path)

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class StopFlag:
    """Set by SIGTERM / SIGUSR1 while installed; the training loop polls it at safe points."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handler(self, signum, frame):
        self.requested = True

    def __enter__(self) -> "StopFlag":
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, prev in self._previous.items():
            signal.signal(sig, prev)
