"""Task files -> validated task specs. The only module that knows the task-file format.

A task file is one YAML document per benchmark row (schema: ``orca/schemas/task.schema.yaml``).
``load_task`` validates it, fills defaults and returns a ``Task``; ``stage_settings`` gives the
resolved settings one stage depends on (and nothing else), so the workflow can key cached outputs
on exactly those settings.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from .sections import (AlignSpec, BodySpec, DataSpec, EmbedderSpec, EvalSpec, InputSpec, LossSpec, OutputSpec,
                            PrepareSpec, PublishedRef, RefineSpec, ResourcesSpec, _section)

__all__ = ["AlignSpec", "BodySpec", "DataSpec", "EmbedderSpec", "EvalSpec", "InputSpec", "LossSpec", "OutputSpec", "PrepareSpec",
           "PublishedRef", "RefineSpec", "ResourcesSpec", "STAGE_DEPENDS", "Task", "TaskError", "find_task_files",
           "load_task", "resolve_task", "settings_hash", "stage_overrides", "stage_paths", "stage_settings",
           "validate_spec"]

SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "task.schema.yaml"

DEFAULTS: dict = {
    "embedder": {"target_seq_len": 64, "patch_size": 4, "image_size": None},
    "body": {"pretrained": True, "dropout": None},
    # align: None = taken from refine when the task is loaded (ORCA aligns with the task's own optimizer)
    "align": {"epochs": 10, "maxsamples": 64, "batch_size": None, "lr": None, "optimizer": None,
              "weight_decay": None, "momentum": None, "betas": None, "scheduler": None,
              "pseudo_labels": 10, "max_source": 5000},
    "refine": {"epochs": 10, "batch_size": 32, "eval_batch_size": 256, "optimizer": "adamw", "lr": 1e-4,
               "weight_decay": 0.0, "momentum": 0.9, "betas": [0.9, 0.98], "scheduler": None,
               "accum": 1, "clip": 1.0},
    "resources": {"mem_mb": 4000, "runtime_min": 60, "gpus": 0, "cpus": 1},
    "baselines": [],
    "published": [],
}
DATA_DEFAULTS = {"val_fraction": 0.1}


class TaskError(ValueError):
    """A task file that cannot be used; the message names the file, the field and the fix."""


@dataclass(frozen=True)
class Task:
    """One validated task file (defaults filled) with a typed view of each section.

    ``spec`` is the resolved task-file mapping, kept for :func:`stage_settings` (the hashes of cached
    results) and for provenance; everything else reads the typed sections.
    """
    name: str
    path: Path
    spec: dict = field(repr=False)
    title: str = field(init=False)
    suite: str = field(init=False)
    input: InputSpec = field(init=False, repr=False)
    output: OutputSpec = field(init=False, repr=False)
    data: DataSpec = field(init=False, repr=False)
    loss: LossSpec = field(init=False, repr=False)
    metric: str = field(init=False)
    embedder: EmbedderSpec = field(init=False, repr=False)
    body: BodySpec = field(init=False, repr=False)
    align: AlignSpec = field(init=False, repr=False)
    refine: RefineSpec = field(init=False, repr=False)
    eval: EvalSpec = field(init=False, repr=False)
    resources: ResourcesSpec = field(init=False, repr=False)
    published: tuple[PublishedRef, ...] = field(init=False, repr=False)
    baselines: tuple[str, ...] = field(init=False, repr=False)
    prepare: PrepareSpec | None = field(init=False, repr=False)

    def __post_init__(self):
        s = self.spec
        typed = {
            "title": s["title"], "suite": s["suite"], "metric": s["metric"],
            "input": _section(InputSpec, s["input"]), "output": _section(OutputSpec, s["output"]),
            "data": _section(DataSpec, s["data"]), "loss": _section(LossSpec, s["loss"]),
            "embedder": _section(EmbedderSpec, s["embedder"]), "body": _section(BodySpec, s["body"]),
            "align": _section(AlignSpec, s["align"]),
            "refine": _section(RefineSpec, s["refine"]), "eval": _section(EvalSpec, s.get("eval") or {}),
            "resources": _section(ResourcesSpec, s["resources"]),
            "published": tuple(_section(PublishedRef, p) for p in s["published"]),
            "baselines": tuple(s["baselines"]),
            "prepare": _section(PrepareSpec, s["prepare"]) if s.get("prepare") else None,
        }
        for key, value in typed.items():
            object.__setattr__(self, key, value)

    @property
    def published_key(self) -> dict | None:
        """The first published reference as a mapping (what run records carry), or None."""
        return self.spec["published"][0] if self.spec["published"] else None


@lru_cache(maxsize=1)
def _schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate_spec(raw: dict, where: str) -> None:
    """Raise TaskError naming the first schema violation in ``raw``."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        loc = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise TaskError(f"{where}: invalid task file at {loc}: {err.message}")


def load_task(path: str | Path, overrides: dict | None = None) -> Task:
    """Read, validate and complete one task file. ``overrides`` are merged in (e.g. {"refine": {"epochs": 2}})."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"task file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise TaskError(f"{path}: malformed YAML: {err}") from err
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: a task file must be a YAML mapping, got {type(raw).__name__}")
    raw = _merge(raw, overrides or {})
    _check_moved_keys(raw, path)
    validate_spec(raw, str(path))
    spec = _merge(DEFAULTS, raw)
    spec["data"] = _merge(DATA_DEFAULTS, spec["data"])
    _resolve_training(spec, path)
    _check_names(spec, path)
    _check_target_options(spec, path)
    _check_augment(spec, path)
    return Task(spec["name"], path, spec)


# settings of earlier task files that now live elsewhere: (section, key) -> where
MOVED_KEYS = {("refine", "warmup_epochs"): "refine.scheduler.warmup_epochs",
              ("refine", "decay_epochs"): "refine.scheduler.decay_epochs (one number: the epoch the decay reaches 0)",
              ("refine", "gamma"): "refine.scheduler {kind: step, milestones, base}",
              ("align", "step_size"): "align.scheduler.milestones", ("align", "gamma"): "align.scheduler.base",
              ("data", "files"): "data.args.download (the one manifest of a row's raw files; fetch reads it)"}


def _check_moved_keys(raw: dict, path: Path) -> None:
    for (section, key), where in MOVED_KEYS.items():
        if key in (raw.get(section) or {}):
            raise TaskError(f"{path}: {section}.{key} is no longer a setting; use {where} (orca/training/optim.py)")


def _resolve_training(spec: dict, path: Path) -> None:
    """Fill align's optimizer settings from refine (ORCA's get_optimizer_scheduler, module='embedder') and
    both stages' schedules from their kind's defaults; check that the schedules are usable."""
    from ..training.optim import align_lr, check_schedule, resolve_schedule  # torch: imported only when a task is loaded
    align, refine = spec["align"], spec["refine"]
    for key in ("optimizer", "weight_decay", "momentum", "betas", "batch_size"):
        if align[key] is None:
            align[key] = refine[key]
    if align["lr"] is None:
        align["lr"] = align_lr(refine["lr"])
    for stage, default_kind in (("refine", "warmup_linear"), ("align", "step")):
        cfg = spec[stage]
        try:
            cfg["scheduler"] = resolve_schedule(cfg["scheduler"], cfg["epochs"], default_kind)
            check_schedule(cfg["scheduler"], cfg["epochs"])
        except ValueError as err:
            raise TaskError(f"{path}: invalid task file at {stage}.scheduler: {err}") from None


def _check_names(spec: dict, path: Path) -> None:
    from ..training.losses import LOSSES
    from ..evaluation.metrics import METRICS

    if spec["metric"] not in METRICS:
        raise TaskError(f"{path}: unknown metric {spec['metric']!r}; allowed: {', '.join(sorted(METRICS))}")
    if spec["loss"]["name"] not in LOSSES:
        raise TaskError(f"{path}: unknown loss {spec['loss']['name']!r}; allowed: {', '.join(sorted(LOSSES))}")
    from ..data import LOADERS, check_prepare

    if spec["data"]["loader"] not in LOADERS:
        raise TaskError(f"{path}: unknown data loader {spec['data']['loader']!r}; "
                        f"allowed: {', '.join(sorted(LOADERS))}")
    if spec.get("prepare") is not None:
        try:
            check_prepare(spec["prepare"])
        except ValueError as err:
            raise TaskError(f"{path}: invalid task file at prepare: {err}") from None


def _check_target_options(spec: dict, path: Path) -> None:
    """output.ignore and data.normalize.targets need a loss/metric/output kind that can honour them."""
    from ..training.losses import MASKABLE_LOSSES
    from ..evaluation.metrics import METRICS

    if spec["output"].get("ignore"):
        if spec["loss"]["name"] not in MASKABLE_LOSSES:
            raise TaskError(f"{path}: output.ignore needs a loss that can skip target entries, not "
                            f"{spec['loss']['name']!r}; allowed: {', '.join(sorted(MASKABLE_LOSSES))}")
        if not METRICS[spec["metric"]].supports_mask:
            allowed = sorted(n for n, m in METRICS.items() if m.supports_mask)
            raise TaskError(f"{path}: output.ignore needs a metric that can skip target entries, not "
                            f"{spec['metric']!r}; allowed: {', '.join(allowed)}")
    norm = spec["data"].get("normalize") or {}
    if norm.get("targets") and spec["output"]["kind"] not in ("regression", "dense"):
        raise TaskError(f"{path}: data.normalize.targets is for regression and dense outputs, not "
                        f"output.kind {spec['output']['kind']!r}; remove it")
    if norm.get("targets") == "inputs" and not norm.get("inputs"):
        raise TaskError(f"{path}: data.normalize.targets is 'inputs' but data.normalize.inputs is not set")
    if norm.get("inputs") and (spec["data"]["args"] or {}).get("lazy_inputs"):
        raise TaskError(f"{path}: data.normalize.inputs fits statistics on the inputs in memory, but "
                        "data.args.lazy_inputs keeps them on disk; store normalised inputs or drop one of the two")


def _check_augment(spec: dict, path: Path) -> None:
    """refine.augment (crop/flip) needs 2D inputs and a padding value it can encode (orca/training/augment.py)."""
    if not spec["refine"].get("augment"):
        return
    from ..training.augment import check_augment

    try:
        check_augment(spec["refine"]["augment"], spec["input"]["modality"],
                      (spec["data"].get("normalize") or {}).get("inputs"))
    except ValueError as err:
        raise TaskError(f"{path}: invalid task file: {err}") from None


def find_task_files(benchmark_dirs: list[str | Path]) -> dict[str, Path]:
    """Map task name -> file for every ``*.yaml`` under the given folders. Duplicate names are an error."""
    found: dict[str, Path] = {}
    for folder in benchmark_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            raise TaskError(f"benchmark folder {folder} does not exist")
        for path in sorted(folder.rglob("*.yaml")):
            try:
                name = (yaml.safe_load(path.read_text()) or {}).get("name")
            except yaml.YAMLError as err:
                raise TaskError(f"{path}: malformed YAML: {err}") from err
            if not name:
                raise TaskError(f"{path}: task file has no 'name'")
            if name in found:
                raise TaskError(f"task name {name!r} is defined twice: {found[name]} and {path}; rename one")
            found[name] = path
    return found


def resolve_task(name_or_path: str, benchmark_dirs: list[str | Path], overrides: dict | None = None) -> Task:
    """A task by name (searched in benchmark_dirs) or by path to its YAML file."""
    if name_or_path.endswith((".yaml", ".yml")) or Path(name_or_path).is_file():
        return load_task(name_or_path, overrides)
    files = find_task_files(benchmark_dirs)
    if name_or_path not in files:
        raise TaskError(f"unknown task {name_or_path!r}; allowed: {', '.join(sorted(files))}")
    return load_task(files[name_or_path], overrides)


# What each stage's output depends on: the one definition behind the settings a job records (its hash keys
# cached results and checkpoints), the rule params Snakemake compares, and the config overrides a job receives.
# Entries: (key in the settings, dotted path in the resolved task file, always included?). Optional entries
# are left out while unset, so adding an option never changes other tasks' hashes.
DATA_DEPENDS = (
    ("loader", "data.loader", True), ("args", "data.args", True), ("val_fraction", "data.val_fraction", True),
    ("input", "input", True),
    ("prepare", "prepare", False),  # only rows with a preparation step
    ("normalize", "data.normalize", False),
    ("ignore", "output.ignore", False),  # the data checks and align's pseudo-labels depend on it
)
STAGE_DEPENDS: dict[str, tuple] = {
    "data": DATA_DEPENDS,
    # align: the embedder starts from the body's tensors (body.pretrained); refine trains the whole body
    "align": (("data", DATA_DEPENDS, True), ("embedder", "embedder", True),
              ("body", (("pretrained", "body.pretrained", True),), True), ("align", "align", True)),
    "refine": (("data", DATA_DEPENDS, True), ("embedder", "embedder", True), ("body", "body", True),
               ("output", "output", True),
               ("loss", "loss", True), ("metric", "metric", True), ("refine", "refine", True),
               ("eval", "eval", False)),  # align enters refine through its output file
    "baseline": (("data", DATA_DEPENDS, True), ("output", "output", True), ("metric", "metric", True),
                 ("eval", "eval", False)),
}


_MISSING = object()


def _get(spec: dict, dotted: str, missing=None):
    """The value at ``dotted`` (e.g. "data.args") in nested mappings, or ``missing`` where the path stops."""
    value = spec
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return missing
        value = value[key]
    return value


def _settings(spec: dict, depends: tuple) -> dict:
    out = {}
    for key, source, always in depends:
        value = _settings(spec, source) if isinstance(source, tuple) else _get(spec, source)
        if always or value:
            out[key] = value
    return out


def stage_paths(stage: str) -> list[str]:
    """The dotted task-file paths ``stage`` depends on, e.g. ["data.loader", ..., "output.ignore", "align"]."""
    if stage not in STAGE_DEPENDS:
        raise ValueError(f"unknown stage {stage!r}; allowed: {', '.join(STAGE_DEPENDS)}")

    def walk(depends):
        for _key, source, _always in depends:
            yield from (walk(source) if isinstance(source, tuple) else [source])

    return list(dict.fromkeys(walk(STAGE_DEPENDS[stage])))


def stage_settings(task: Task, stage: str) -> dict:
    """The resolved settings a stage's output depends on (and nothing more), as ``STAGE_DEPENDS`` lists them:
    data (loader, args, validation share, input; prepare, normalize and output.ignore when set); align: data +
    embedder + body.pretrained + align; refine: data + embedder + body + output + loss + metric + refine (+ eval
    when set); baseline: data + output + metric (+ eval when set)."""
    stage_paths(stage)  # an unknown stage: ValueError naming the allowed ones
    return _settings(task.spec, STAGE_DEPENDS[stage])


# Paths the load-time checks read together with a path (``_check_target_options``): a job that receives an
# override of the first also receives the overrides of the others, so it validates as the workflow did.
CHECKED_WITH = {"output.ignore": ("loss.name", "metric"), "data.normalize": ("output.kind",)}


def stage_overrides(overrides: dict, stage: str) -> dict:
    """The part of config ``overrides`` (a partial task file) that ``stage`` depends on: the paths of
    ``stage_paths`` (and those ``CHECKED_WITH`` them), so every override that changes the stage's settings
    reaches its job and overrides of other sections do not."""
    out: dict = {}
    paths = stage_paths(stage)
    for dotted in list(paths):
        if _get(overrides, dotted) is not None:
            paths += [p for p in CHECKED_WITH.get(dotted, ()) if p not in paths]
    for dotted in paths:
        value = _get(overrides, dotted, _MISSING)
        if value is _MISSING:
            continue
        keys = dotted.split(".")
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = copy.deepcopy(value)
    return out


def settings_hash(settings: dict) -> str:
    """A short stable hash of a JSON-serialisable settings dict."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
