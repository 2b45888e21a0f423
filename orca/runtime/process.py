"""Run-time plumbing shared by every stage: seeding, device choice, atomic writes, provenance."""
from __future__ import annotations

import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np


def seed_everything(seed: int):
    """Seed Python, NumPy and torch (all devices). Returns a seeded torch generator.

    CPU kernels are deterministic as they are; on a GPU, deterministic algorithms are requested too
    (asked for only there: the switch imports torch's compiler stack, seconds of start-up per job).
    """
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


def set_threads(n: int | None) -> None:
    """Use ``n`` CPU threads in torch (default: ORCA_THREADS, else torch's choice)."""
    n = n or int(os.environ.get("ORCA_THREADS", "0") or 0)
    if n > 0:
        import torch

        torch.set_num_threads(n)


def pick_device(requested: str | None = None):
    """``requested`` (e.g. "cpu", "cuda:0"), else ORCA_DEVICE, else the first GPU if any, else CPU."""
    import torch

    name = requested or os.environ.get("ORCA_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _tmp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def check_writable(path: str | Path) -> None:
    """Fail before any work if ``path`` (a file to be written later) cannot be created."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _tmp_beside(path).unlink()
    except OSError as err:
        raise PermissionError(f"cannot write {path}: {err.strerror or err}; choose a writable output folder "
                              "(--out / --out-dir, or results_dir / cache_dir in the config)") from err


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path``, on error it is
    removed: readers see either the old file or the whole new one, never a part."""
    path = Path(path)
    tmp = _tmp_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`), synced to disk."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_torch_save(obj, path: str | Path) -> None:
    import torch

    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def git_state(repo: str | Path | None = None) -> dict:
    """The commit of the code that ran and whether its tree had uncommitted changes."""
    repo = Path(repo or Path(__file__).resolve().parent.parent.parent)

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"git_commit": None, "git_dirty": None}
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return {"git_commit": head.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.TimeoutExpired):
        return {"git_commit": None, "git_dirty": None}


PACKAGES = ("torch", "transformers", "pot", "numpy", "scikit-learn", "xgboost", "openml", "pandas")


def provenance(device=None, rehearsal: bool = False) -> dict:
    """Where a number came from: code version, packages, machine, device, peak memory so far; ``rehearsal``
    (the job's mode, orca.spec.jobs) marks a rehearsal's record."""
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    dev = str(device) if device is not None else "cpu"
    torch = sys.modules.get("torch")  # only what the job itself loaded: a baseline never imports torch
    if device is not None and device.type == "cuda":
        dev = f"{dev} ({torch.cuda.get_device_name(device)})"
    return {
        **git_state(),
        **({"rehearsal": True} if rehearsal else {}),  # a rehearsal's record says so (orca.rehearsal)
        "packages": versions,
        "python": sys.version.split()[0],
        "host": platform.node(),
        "device": dev,
        "torch_threads": torch.get_num_threads() if torch else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
