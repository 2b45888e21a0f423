"""Peak memory of this process, resettable between measurements: host RSS (Linux VmHWM) and GPU allocations.

``reset_peaks()`` starts a new measurement window; ``peaks()`` reads the highest resident set (MB) and, on a
CUDA device, the highest allocated GPU memory (MB) since then. On Linux the kernel's high-water mark is reset by
writing ``5`` to ``/proc/self/clear_refs``; where that is not possible (macOS, restricted /proc) the window is
the whole process lifetime (``ru_maxrss``) and ``peaks()`` says so (``rss_window: process``).
"""
from __future__ import annotations

import ctypes
import gc
import resource
import sys
from pathlib import Path

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _status_mb(field: str) -> float | None:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM) in MB, or None off Linux."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def current_rss_mb() -> float | None:
    """The resident set now (MB), or None where /proc is missing."""
    return _status_mb("VmRSS")


def release_free_heap() -> None:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim``; nothing elsewhere), so the resident
    set is what is live: memory the allocator kept after freeing it would otherwise absorb a window's growth."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def reset_peaks(device=None) -> bool:
    """Start a new peak window (host RSS and, for a CUDA ``device``, GPU memory); False when the host window
    cannot be reset (then :func:`peaks` reports the process lifetime peak). Free heap pages are released first
    (:func:`release_free_heap`), so the window's peak is the live memory plus what the window itself needs."""
    if device is not None and getattr(device, "type", str(device)) == "cuda":
        import torch

        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    release_free_heap()
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peaks(device=None) -> dict:
    """{rss_mb, rss_window, gpu_mb}: the highest resident set since :func:`reset_peaks` (``rss_window: since
    reset``) or over the process lifetime (``process``), and the highest allocated CUDA memory (None off GPU)."""
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        rss, window = hwm, "since reset"
    else:
        scale = 1.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, kB on Linux
        rss, window = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale / 1024.0, "process"
    gpu = None
    if device is not None and getattr(device, "type", str(device)) == "cuda":
        import torch

        torch.cuda.synchronize(device)
        gpu = torch.cuda.max_memory_allocated(device) / 2**20
    return {"rss_mb": round(rss, 1), "rss_window": window, "gpu_mb": None if gpu is None else round(gpu, 1)}
