"""One GPU per local job: a pool of device ids shared through file locks.

Snakemake runs several ``orca`` processes at once on one machine; without help they all see every GPU and
all pick ``cuda:0``. With ``ORCA_GPUS=0,1,2,3`` each torch stage takes a free id from the pool, sets
``CUDA_VISIBLE_DEVICES`` to it before CUDA starts, and holds it until the process ends.

A device is held by an exclusive ``fcntl.flock`` on ``<pool_dir>/gpu-<id>.lock``. The kernel drops the
lock when the holder's file is closed, including when the process is killed, so a crashed job never
leaves a device taken. The pool folder must be on a local file system (the default is under /tmp).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ENV_DEVICES = "ORCA_GPUS"
ENV_POOL_DIR = "ORCA_GPU_POOL_DIR"

# Locks taken by visible_devices_for_job(): kept open for the life of the process.
_held: list[int] = []
_held_device: str | None = None


def parse_devices(spec: str | None) -> list[str]:
    """``"0, 1,2"`` -> ``["0", "1", "2"]``; None or blank -> []. Duplicates are dropped, order kept."""
    if not spec:
        return []
    out: list[str] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if "/" in item or item.startswith("."):
            raise ValueError(f"{ENV_DEVICES}: bad device id {item!r}; expected e.g. 0,1,2,3")
        if item not in out:
            out.append(item)
    return out


def default_pool_dir() -> Path:
    """``$ORCA_GPU_POOL_DIR``, else a folder per user under the system temp folder."""
    env = os.environ.get(ENV_POOL_DIR)
    if env:
        return Path(env)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"orca-gpus-{uid}"


def _try_lock(pool: Path, device: str) -> int | None:
    """Open and exclusively lock ``device``'s lock file; the open fd, or None when another holder has it."""
    path = pool / f"gpu-{device}.lock"
    writable = True
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # another user's lock file in a shared pool: a read-only fd locks as well
        fd, writable = os.open(path, os.O_RDONLY), False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    # Who holds it, for a person looking at the pool folder (the lock, not this text, is what counts).
    if writable:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _take(pool_dir: str | os.PathLike, devices: list[str], timeout_s: float | None,
          poll_s: float) -> tuple[str, int]:
    if not devices:
        raise ValueError("acquire_gpu: empty device list")
    pool = Path(pool_dir)
    pool.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    while True:
        for device in devices:
            fd = _try_lock(pool, device)
            if fd is not None:
                return device, fd
        if timeout_s is not None and time.monotonic() - start >= timeout_s:
            raise TimeoutError(f"no free GPU among {','.join(devices)} after {timeout_s:g}s (pool {pool})")
        time.sleep(poll_s)


def _release(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def acquire_gpu(pool_dir: str | os.PathLike, devices: list[str], timeout_s: float | None = None,
                poll_s: float = 0.2) -> Iterator[str]:
    """Hold one free device id of ``devices`` for the ``with`` block; waits while all are taken.

    ``timeout_s``: give up with TimeoutError after that long (None = wait for ever). The device is
    released when the block ends, also on an exception, and by the kernel if the process dies.
    """
    device, fd = _take(pool_dir, devices, timeout_s, poll_s)
    try:
        yield device
    finally:
        _release(fd)


def visible_devices_for_job(timeout_s: float | None = None) -> str | None:
    """The CUDA_VISIBLE_DEVICES value for this process, from ``$ORCA_GPUS``; None = leave it alone.

    None when ORCA_GPUS is unset or empty, or inside a SLURM job (SLURM assigns the GPUs there).
    Otherwise takes a free id from the pool and holds it until the process exits; calling again
    returns the same id.
    """
    global _held_device
    if _held_device is not None:
        return _held_device
    devices = parse_devices(os.environ.get(ENV_DEVICES))
    if not devices or os.environ.get("SLURM_JOB_ID"):
        return None
    device, fd = _take(default_pool_dir(), devices, timeout_s, poll_s=0.5)
    _held.append(fd)
    _held_device = device
    print(f"orca: GPU {device} (of {ENV_DEVICES}={','.join(devices)})", file=sys.stderr)
    return device


def release_job_gpu() -> None:
    """Give back the device taken by visible_devices_for_job() (tests; a process exit does the same)."""
    global _held_device
    while _held:
        _release(_held.pop())
    _held_device = None
