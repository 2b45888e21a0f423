"""Progress lines for long stages: which job, which epoch, and the time left from the mean epoch time.

    log(epoch_line("refine iris minilm-l6 none seed 0", epoch=3, epochs=10, detail="loss 0.31"))
    -> "[refine iris minilm-l6 none seed 0] epoch 3/10 loss 0.31 | 2.1 s/epoch, 15 s left, done ~12:03:04"

The caller keeps no state. ``start_clock(job, done)`` just before the first epoch (``done`` = epochs
already finished, e.g. when resuming) lets the first line estimate too; without it the first line
of a job starts the clock and says "time left after the next epoch". Later lines divide the time
since the clock started by the epochs finished since then. The lines go
wherever the caller's ``log`` sends them; the CLI makes stdout line-buffered so that a log file
(and the console, where the workflow tees it) shows each line as it is written.
"""
from __future__ import annotations

import time
from typing import Callable

__all__ = ["epoch_line", "format_seconds", "reset", "start_clock"]

# job -> (clock when its first line was written, epoch of that line)
_STARTS: dict[str, tuple[float, int]] = {}


def format_seconds(seconds: float) -> str:
    """'42 s', '3 min 05 s', '2 h 07 min' (rounded to whole seconds)."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def start_clock(job: str, done: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
    """Start ``job``'s clock now, with ``done`` epochs already finished."""
    _STARTS[job] = (clock(), done)


def epoch_line(job: str, epoch: int, epochs: int, detail: str = "",
               clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> str:
    """The log line for ``epoch`` (1-based, just finished) of ``epochs`` in ``job``, with the time left.

    ``clock`` measures durations, ``wall`` gives the local time of day for the finish estimate.
    """
    now = clock()
    start = _STARTS.get(job)
    if start is None or epoch <= start[1]:  # first line, or the job started over in this process
        start = _STARTS[job] = (now, epoch)
    head = f"[{job}] epoch {epoch}/{epochs}" + (f" {detail}" if detail else "")
    done_here = epoch - start[1]
    if epoch >= epochs:
        _STARTS.pop(job, None)
        return head + " | done"
    if done_here <= 0:
        return head + " | time left after the next epoch"
    per_epoch = (now - start[0]) / done_here
    left = per_epoch * (epochs - epoch)
    finish = time.strftime("%H:%M:%S", time.localtime(wall() + left))
    return head + f" | {per_epoch:.3g} s/epoch, {format_seconds(left)} left, done ~{finish}"


def reset() -> None:
    """Forget every job's clock (tests; a long-lived worker never needs it: finished jobs remove theirs)."""
    _STARTS.clear()
