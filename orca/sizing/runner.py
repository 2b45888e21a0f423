"""``orca size``: measure every distinct sizing unit of a config, one fresh process per unit, cached by settings.

A unit's record is ``<out_dir>/<task>--<backbone>--<device type>.json``; a record whose settings hash matches is
kept (``force`` measures again). Each unit runs as ``python -m orca size-unit`` in its own process, so its peak
memory is its own and a crash loses that unit only; the others go on, and the command fails at the end naming
the units that did not finish (no record is written for them).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .shapes import SizingUnit


def record_path(out_dir: str | Path, unit: SizingUnit, device_type: str) -> Path:
    return Path(out_dir) / f"{unit.name}--{device_type}.json"


def cached(path: Path, unit: SizingUnit) -> bool:
    """Whether ``path`` holds this unit's record with the same shape hash (orca.sizing.shapes.shape_key)."""
    try:
        return json.loads(path.read_text()).get("shape_hash") == unit.shape_hash
    except (OSError, ValueError):
        return False


def device_type(device: str | None) -> str:
    """``cuda`` or ``cpu``: what ``pick_device`` would choose for ``device`` (checked without importing torch
    when a device is named)."""
    if device:
        return "cuda" if device.startswith("cuda") else "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def summary_line(rec: dict) -> str:
    """One line per unit: refine step time and peak at the real batch (first mode, first precision), checkpoint."""
    mode = "full" if "full" in rec["refine"] else next(iter(rec["refine"]))
    ref = rec["refine"][mode]
    prec, p = next(iter(ref["precisions"].items()))
    a = p["at_batch"]
    how = "measured" if a["scaled_from"] is None else f"scaled from micro-batches {a['scaled_from']}"
    gpu = f", GPU {a['peak_gpu_mb'] / 1024:.1f} GB" if a.get("peak_gpu_mb") else ""
    return (f"refine {mode} {prec}: {a['step_s']:.3g} s/step at batch {ref['batch_size']} x accum {ref['accum']} "
            f"({how}), peak RSS {a['peak_rss_mb'] / 1024:.1f} GB{gpu}, {ref['flops_per_step'] / 1e12:.3g} TFLOP/step; "
            f"checkpoint {ref['checkpoint']['mb']:.0f} MB in {ref['checkpoint']['write_s']:.2g} s; {rec['wall_s']:.0f} s")


def run_units(units: list[SizingUnit], out_dir: str | Path, data_dir: str | Path, cache_dir: str | Path,
              device: str | None = None, force: bool = False, threads: int | None = None,
              log=print) -> list[str]:
    """Measure each unit not already measured; returns the names of the units that failed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dtype = device_type(device)
    failed, started = [], time.time()
    for i, unit in enumerate(units, 1):
        path = record_path(out_dir, unit, dtype)
        shared = ", ".join(t for _, t in unit.members if t != unit.task)
        head = f"[{i}/{len(units)}] {unit.name}" + (f" (also for {shared})" if shared else "")
        if not force and cached(path, unit):
            log(f"{head}: up to date ({path})")
            continue
        log(f"{head}: measuring on {dtype} ...")
        code = _run_child(unit, path, data_dir, cache_dir, device, threads)
        if code != 0:
            failed.append(unit.name)
            log(f"{head}: FAILED (exit {code}); no record written")
            continue
        log(f"{head}: {summary_line(json.loads(path.read_text()))}")
    log(f"sized {len(units) - len(failed)} of {len(units)} units in {time.time() - started:.0f} s -> {out_dir}")
    return failed


def _run_child(unit: SizingUnit, out: Path, data_dir, cache_dir, device, threads) -> int:
    """Run ``orca size-unit`` for ``unit`` in a fresh process; its output passes through."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        fh.write(unit.job.dumps())
    cmd = [sys.executable, "-m", "orca", "size-unit", "--job", f"@{fh.name}", "--out", str(out),
           "--data-dir", str(data_dir), "--cache-dir", str(cache_dir)]
    if device:
        cmd += ["--device", device]
    if threads:
        cmd += ["--threads", str(threads)]
    try:
        return subprocess.call(cmd)
    finally:
        Path(fh.name).unlink(missing_ok=True)
