"""The run record: the JSON one refine or baseline run leaves (results/runs/... and results/baselines/...).

Written by the stages through :func:`write_record` and read back by the report through :func:`read_record`;
this module is the only one that knows its fields. Stage-specific fields (refine's ``history`` and
``embedder``) travel in ``extra`` and are written beside the common ones.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..runtime.process import atomic_write_json, provenance

#: Fields every record carries (what the report needs to place and compare a run).
REQUIRED = ("task", "backbone", "method", "seed", "metric", "scores", "settings_hash")


@dataclass(frozen=True)
class RunRecord:
    """One run. scores: test_at_best_val, test_last_epoch, best_val, best_epoch (1-based; None for baselines)."""
    task: str
    task_title: str
    suite: str
    backbone: str
    method: str
    seed: int
    metric: str
    metric_display: str
    higher_is_better: bool
    scores: dict
    num_train: int
    num_val: int
    num_test: int
    data_sha256: str
    settings: dict
    settings_hash: str
    published_key: dict | None
    wall_time_s: float
    provenance: dict
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = asdict(self)
        return {**{k: v for k, v in out.items() if k != "extra"}, **self.extra}

    @classmethod
    def from_json(cls, obj: dict, where: str) -> RunRecord:
        missing = [k for k in REQUIRED if k not in obj]
        if missing:
            raise ValueError(f"run file {where}: missing fields {missing}")
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: obj.get(k) for k in names}
        return cls(**known, extra={k: v for k, v in obj.items() if k not in names})


def build_record(job, metric, scores: dict, data, started: float, out_path: str | Path, device=None,
                 **extra) -> RunRecord:
    """The record of a finished run of ``job`` (orca.spec.jobs.JobSettings: its settings, hash, identity and task
    labels): ``metric`` (orca.evaluation.metrics.Metric), ``data`` (orca.data.taskdata.SplitData), ``started``
    (time.time() at the start), ``device`` (torch.device or None). The record carries the job's whole
    settings document, so it names every value the run used."""
    task, ident = job.task, job.job
    return RunRecord(
        task=task.name, task_title=task.title, suite=task.suite, backbone=ident.get("backbone", "-"),
        method=ident["method"], seed=ident["seed"],
        metric=metric.name, metric_display=metric.display, higher_is_better=metric.higher_is_better,
        scores=scores, num_train=len(data.x_train), num_val=len(data.x_val), num_test=len(data.x_test),
        data_sha256=data.checksum(), settings=job.settings, settings_hash=job.settings_hash,
        published_key=task.published_key, wall_time_s=round(time.time() - started, 3),
        provenance={**provenance(device, rehearsal=job.rehearsal), "run_file": str(out_path)},
        extra={"task_file": job.task_file, **extra})


def write_record(record: RunRecord, path: str | Path) -> None:
    atomic_write_json(path, record.to_json())


def read_record(path: str | Path) -> RunRecord:
    """A record from its JSON file; ValueError naming the file when it is not one."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"run file {path}: not valid JSON ({err}); delete it and rerun its job") from None
    if not isinstance(obj, dict):
        raise ValueError(f"run file {path}: not a run record (a {type(obj).__name__})")
    return RunRecord.from_json(obj, str(path))
