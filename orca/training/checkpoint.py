"""Resumable training: atomic checkpoints with every RNG state, and a polite stop on SIGTERM/SIGUSR1.

A checkpoint file is keyed by the stage's settings hash, so a job whose settings changed never
resumes from a stale one. It is written atomically (temporary file + rename) and removed once the
job's result has been written. Saves at an epoch's end happen at most every ``every_s`` seconds
(``--checkpoint-every``, default 60 s, so a crash loses at most a minute plus the epoch under way, and a
run of seconds-long epochs does not spend a fifth of its time writing checkpoints). SLURM sends SIGTERM
at its time limit and before preemption (SIGUSR1 where ``--signal`` asks for it): the loop then saves at
the next safe point and exits with ``EXIT_PREEMPTED`` so the scheduler (or Snakemake's retries) can start
it again.
"""
from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import numpy as np
import torch

from ..runtime.process import atomic_torch_save

EXIT_PREEMPTED = 75  # EX_TEMPFAIL: "try again later"
#: Seconds between epoch-end checkpoints unless ``--checkpoint-every`` (config ``checkpoint_every_s``) says otherwise.
DEFAULT_EVERY_S = 60.0
#: The largest share of a job's wall time epoch-end checkpoints may take: after each write the next one waits at
#: least ``write seconds / MAX_WRITE_SHARE`` (a 1.5 GB state written in 15 s: every 5 minutes at most).
MAX_WRITE_SHARE = 0.05


def parse_seconds(text: str) -> float:
    """A number of seconds >= 0 from text; ValueError otherwise (NaN and negative numbers included)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"{text!r} is not a number of seconds >= 0")
    return value


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
    """Save/load one job's training state at ``<dir>/<key>.pt``; ``directory=None`` disables it.

    ``every_s``: ``save_if_due`` writes only when at least this many seconds passed since the job started or
    last saved (0: every call; None: DEFAULT_EVERY_S), and, for ``every_s`` > 0, at least the last write's
    seconds / MAX_WRITE_SHARE (the cadence follows the measured write time of the state's real size); ``save``
    always writes (a stop request). One file per job, replaced atomically: only the last good state is kept."""

    def __init__(self, directory: str | Path | None, key: str, every_s: float | None = None):
        self.path = Path(directory) / f"{key}.pt" if directory else None
        self.every_s = DEFAULT_EVERY_S if every_s is None else every_s
        self._last_save = time.monotonic()
        self.last_write_s = 0.0

    @property
    def interval_s(self) -> float:
        """Seconds between epoch-end saves now: ``every_s``, stretched so writing stays within MAX_WRITE_SHARE."""
        if self.every_s <= 0:
            return 0.0
        return max(self.every_s, self.last_write_s / MAX_WRITE_SHARE)

    def load(self) -> dict | None:
        if self.path is None or not self.path.is_file():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as err:  # a torn file cannot happen (atomic rename), but a disk error can
            raise RuntimeError(f"checkpoint {self.path} cannot be read ({err}); delete it to start over") from err

    def save(self, state: dict) -> None:
        if self.path is not None:
            started = time.monotonic()
            atomic_torch_save(state, self.path)
            self._last_save = time.monotonic()
            self.last_write_s = self._last_save - started

    def save_if_due(self, make_state, force: bool = False) -> bool:
        """Save ``make_state()`` when ``every_s`` has passed (or ``force``); whether it saved."""
        if self.path is None or not (force or time.monotonic() - self._last_save >= self.interval_s):
            return False
        self.save(make_state())
        return True

    def exists(self) -> bool:
        return self.path is not None and self.path.is_file()

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
