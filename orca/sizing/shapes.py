"""The distinct job shapes of a config: what one sizing run measures.

A *sizing unit* is one (task, backbone) of the grid with everything its jobs compute at real size: the refine
step in each body mode its table runs (``full``: every weight trains; ``frozen``: the frozen-body control), one
align class step per aligner and protocol solver, and evaluation. Rows whose units would compute the same shapes
(same backbone, input shape, embedder, body, loss, batch sizes, optimizer, align settings, features) share one
measurement; the cost of each row is then scaled to its own split sizes and epochs (orca.sizing.cost).
Planning reads task files only (no torch).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..spec.jobs import JobSettings, resolve_job
from ..spec.protocols import align_solver, get_protocol

#: What a sizing run does, unless config/sizing.yaml says otherwise (hashed into each unit's settings).
DEFAULT_SIZING = {"warmup_steps": 1, "steps": 3, "micro_batches": [1, 4], "precisions": ["fp32"],
                  "eval_rows": 2, "source_rows": 32, "direct_below_mb": 6000, "direct_below_s": 5.0,
                  "align_steps": 1}


class SizingError(ValueError):
    """A task or config that cannot be sized; the message names the file and the fix."""


@dataclass
class SizingUnit:
    """One measurement: ``job`` (stage ``size``, mode ``sizing``) for the representative ``task``; ``members``:
    every (table, task) whose jobs have these shapes."""
    job: JobSettings
    members: list = field(default_factory=list)

    @property
    def task(self) -> str:
        return self.job.job["task"]

    @property
    def backbone(self) -> str:
        return self.job.job["backbone"]

    @property
    def name(self) -> str:
        return f"{self.task}--{self.backbone}"

    @property
    def shape_hash(self) -> str:
        return shape_hash(self.job)


def per_sample_shape(task) -> list[int]:
    """The input shape of one sample: ``input.shape``, or (1, ``sizes.features``) for a tabular row; SizingError
    when the task file gives neither."""
    if task.input.shape:
        return list(task.input.shape)
    features = (task.spec.get("sizes") or {}).get("features")
    if features and task.input.modality == "1d":
        return [1, int(features)]
    raise SizingError(f"{task.path}: sizing needs the per-sample input shape: give input.shape, or sizes.features "
                      "(a tabular row's length after preprocessing) with the real split sizes")


def sizable_aligner(method: str) -> bool:
    """Whether ``orca size`` measures ``method``'s align step: a built-in align method the class-wise loop
    minimises (``make_aligner``); one with its own align procedure (``run_align``, e.g. RECRAFT) or from a user's
    folder is not sized (its jobs are priced as unsized)."""
    from ..methods import AlignMethod, all_methods

    found = all_methods().get(method)
    return isinstance(found, AlignMethod) and found.make_aligner is not None and found.builtin


def _unit_extras(grid, table: str, task: str, backbone: str, sizing: dict) -> dict:
    """The body modes and align methods the table's jobs of this row run (the unit's own settings)."""
    from ..stages.controls import finetune_of

    t = grid.config["tables"][table]
    own = grid.task(task).refine.finetune  # the aligners' and naive fine-tuning's
    modes = {own} | {finetune_of(c, own) for c in t.get("controls", [])}
    aligners = [(m, align_solver(get_protocol(p), grid.task(task).align.solver))
                for m in t["aligners"] if sizable_aligner(m) for p in grid.protocols_for(table)]
    return {"modes": sorted(modes), "aligners": sorted(set(aligners)), "sizing": dict(sizing),
            "source_max_samples": grid.config.get("source_max_samples", 5000)}


def shape_key(job: JobSettings) -> str:
    """The unit's backbone and settings without what does not change a shape: task names, data location, split
    counts."""
    settings = json.loads(json.dumps(job.settings))
    task = settings["task"]
    task.pop("data", None)
    sizes = task.pop("sizes", None) or {}
    task["features"] = sizes.get("features")
    task["refine"].pop("finetune", None)  # the unit's ``modes`` say which fine-tuning schemes it measures
    return json.dumps({"backbone": job.job["backbone"], **settings}, sort_keys=True)


def shape_hash(job: JobSettings) -> str:
    """Hash of what a measurement depends on (:func:`shape_key`): a record with the same one is current even when
    a task's data location or split counts changed."""
    import hashlib

    return hashlib.sha256(shape_key(job).encode()).hexdigest()[:12]


def merge_units(units: list[SizingUnit]) -> list[SizingUnit]:
    """Units with the same :func:`shape_key` merged into the first (their members joined)."""
    by_key: dict[str, SizingUnit] = {}
    for unit in units:
        key = shape_key(unit.job)
        if key in by_key:
            by_key[key].members.extend(m for m in unit.members if m not in by_key[key].members)
        else:
            by_key[key] = unit
    return list(by_key.values())


def sizing_units(grid, tables: list[str] | None = None, sizing: dict | None = None) -> list[SizingUnit]:
    """The distinct sizing units of ``tables`` (default: the config's targets) of ``grid``
    (orca.plan.grid.Grid), in table order; ``sizing``: DEFAULT_SIZING overrides."""
    sizing = {**DEFAULT_SIZING, **(sizing or {})}
    unknown = set(sizing) - set(DEFAULT_SIZING)
    if unknown:
        raise SizingError(f"unknown sizing settings {', '.join(sorted(unknown))}; allowed: "
                          f"{', '.join(DEFAULT_SIZING)}")
    tables = list(tables or grid.config["targets"])
    for table in tables:
        if table not in grid.config["tables"]:
            raise SizingError(f"unknown table {table!r}; the config has {', '.join(grid.config['tables'])}")
    per_row: dict[tuple, SizingUnit] = {}
    for table in tables:
        for task in grid.config["tables"][table]["tasks"]:
            for backbone in grid.backbones_for(table, task):
                key = (task, backbone)
                extras = _unit_extras(grid, table, task, backbone, sizing)
                if key in per_row:  # a row in several tables: the union of what they run
                    old = per_row[key].job.settings
                    extras["modes"] = sorted(set(old["modes"]) | set(extras["modes"]))
                    extras["aligners"] = sorted({tuple(a) for a in old["aligners"]} | set(extras["aligners"]))
                    members = per_row[key].members + [(table, task)]
                else:
                    members = [(table, task)]
                per_sample_shape(grid.task(task))
                weights = (grid.config.get("backbone_weights") or {}).get(backbone)
                if weights:
                    extras["weights"] = str(weights)
                job = resolve_job("size", {"task": task, "backbone": backbone}, "sizing", grid.task(task), extras)
                per_row[key] = SizingUnit(job, members)
    return merge_units(list(per_row.values()))
