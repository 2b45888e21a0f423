"""Task files' ``resources`` from measurement: each paper row's memory and time request derived from its sizing
record (orca.sizing.cost's per-job figures) with a stated margin. ``scripts/fit_resources.py`` writes them into
the task files; tests/sizing/test_fitted_resources.py fails when a task file asks for less than they say.

- ``mem_mb`` = (the largest measured peak host RSS of the row's align and refine jobs + the real data's memory)
  x MEM_MARGIN, rounded up to a GB, + CUDA_HOST_MB for a job that asks for a GPU. The sizing reads a few stand-in rows, so the data is added: the loader's
  measured peak at the real array size less the process's own (``scripts/bench_loaders.py``'s CSV) where
  measured, else READ_FACTOR x the inputs' float32 bytes at the real split sizes (nothing for lazily read
  inputs). A CPU sizing's peak includes the activations, which a GPU job keeps on the device: on a GPU the
  request is an upper bound of the host memory.
- ``runtime_min`` = the longest modelled job of the row on the REFERENCE device class x TIME_MARGIN, rounded up to
  10 minutes (at least MIN_RUNTIME_MIN).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

MEM_MARGIN = 1.5
TIME_MARGIN = 1.5
REFERENCE = "A100-40GB"
MIN_RUNTIME_MIN = 10
#: Host memory a GPU job needs beyond a CPU run's: the CUDA context and kernels torch loads (an allowance, not
#: measured here: no GPU was lent to the sizing; measure it with scripts/gpu_check.sh where one is).
CUDA_HOST_MB = 3000
#: Peak bytes of an eager load per input byte: the largest ratio measured by scripts/bench_loaders.py (DeepSEA
#: read whole: 9,516 MB peak for 3.58 GB of float32 inputs on a 369 MB process, i.e. 2.6).
READ_FACTOR = 2.6
LOADERS_CSV = "loaders.csv"


def data_mb(task, per_sample_shape: list[int], measured: dict) -> float:
    """Memory (MB) the real data adds to a job: ``measured`` (task path -> loader peak less the bare process,
    from the loaders CSV) when there, else READ_FACTOR x the float32 inputs (none when read lazily)."""
    if str(task.path) in measured:
        return measured[str(task.path)]
    if task.data.lazy_inputs:
        return 0.0
    rows = int(task.sizes["train"]) + int(task.sizes.get("val") or 0) + int(task.sizes["test"])
    return READ_FACTOR * rows * math.prod(per_sample_shape) * 4 / 2**20


def loader_peaks(sizing_dir: str | Path) -> dict:
    """task path -> (its loader's measured peak at real size, lazy or eager as the task reads) less the bare
    process's RSS (MB), from ``<sizing_dir>/loaders.csv``; empty without it."""
    import csv

    path = Path(sizing_dir) / LOADERS_CSV
    if not path.is_file():
        return {}
    out: dict = {}
    for row in csv.DictReader(path.open()):
        if not row.get("task"):
            continue
        peak = float(row["lazy_peak_mb"] if row.get("task_lazy") == "yes" else row["eager_peak_mb"])
        out[row["task"]] = max(out.get(row["task"], 0.0), peak - float(row.get("base_mb") or 0.0))
    return out


def fitted_resources(grid, tables: list[str] | None, sizing_dir: str | Path) -> dict:
    """task -> {mem_mb, runtime_min, peak_mb, data_mb, modelled_min} for every row with a sizing record."""
    from .cost import _unit_records, job_rows

    tables = list(tables or grid.config["targets"])
    records = _unit_records(grid, tables, Path(sizing_dir))
    measured = loader_peaks(sizing_dir)
    per_task: dict = {}
    for table in tables:
        for row in job_rows(grid, table, records, [REFERENCE]):
            if not row["sized"] or row["stage"] not in ("align", "refine"):
                continue
            rec = records[(row["task"], row["backbone"])]
            t = per_task.setdefault(row["task"], {"peak_mb": 0.0, "modelled_min": 0.0, "data_mb": round(
                data_mb(grid.task(row["task"]), rec["per_sample_shape"], measured), 1)})
            t["peak_mb"] = max(t["peak_mb"], float(row["peak_mb"]))
            t["modelled_min"] = max(t["modelled_min"], 60 * float(row[f"gpu_h_{REFERENCE}"]))
    for name, t in per_task.items():
        t["mem_mb"] = int(math.ceil((t["peak_mb"] + t["data_mb"]) * MEM_MARGIN / 1000) * 1000)
        if grid.task(name).resources.gpus > 0:
            t["mem_mb"] += CUDA_HOST_MB
        t["runtime_min"] = max(MIN_RUNTIME_MIN, int(math.ceil(t["modelled_min"] * TIME_MARGIN / 10) * 10))
    return per_task


_RESOURCES = re.compile(r"^resources:\s*\{(?P<body>[^}]*)\}", re.MULTILINE)


def rewrite_resources(path: str | Path, mem_mb: int, runtime_min: int) -> bool:
    """Set ``mem_mb`` and ``runtime_min`` in the task file's one-line ``resources: {...}`` (gpus, cpus kept);
    returns whether the file changed. ValueError when the file has no such line."""
    path = Path(path)
    text = path.read_text()
    match = _RESOURCES.search(text)
    if match is None:
        raise ValueError(f"{path}: no one-line `resources: {{...}}` to rewrite; write it as one line")
    items = dict(part.split(":", 1) for part in match["body"].split(",") if ":" in part)
    items = {k.strip(): v.strip() for k, v in items.items()}
    items["mem_mb"], items["runtime_min"] = str(mem_mb), str(runtime_min)
    order = ["mem_mb", "runtime_min", "gpus", "cpus"]
    body = ", ".join(f"{k}: {items[k]}" for k in order + [k for k in items if k not in order] if k in items)
    new = text[:match.start()] + f"resources: {{{body}}}" + text[match.end():]
    if new != text:
        path.write_text(new)
    return new != text
