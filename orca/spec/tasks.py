"""Task files -> validated task specs. The only module that knows the task-file format.

A task file is one YAML document per benchmark row (schema: ``orca/schemas/task.schema.yaml``).
``load_task`` validates it, fills defaults (:data:`DEFAULTS`, the one place they live) and values derived from
other sections (align's optimizer from refine's) and returns a ``Task``. What a stage's job sees of it is cut
by ``orca.spec.jobs.resolve_job``; the job rebuilds its view with :func:`task_view`, never from the file.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from .sections import (AlignSpec, BodySpec, DataSpec, EmbedderSpec, EvalSpec, InputSpec, LossSpec, OutputSpec,
                            PrepareSpec, PublishedRef, RefineSpec, ResourcesSpec, _section)

__all__ = ["AlignSpec", "BodySpec", "DataSpec", "EmbedderSpec", "EvalSpec", "InputSpec", "LossSpec", "OutputSpec",
           "PrepareSpec", "PublishedRef", "RefineSpec", "ResourcesSpec", "Task", "TaskError", "find_task_files",
           "load_task", "resolve_task", "task_view", "validate_spec"]

SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "task.schema.yaml"

DEFAULTS: dict = {
    "embedder": {"target_seq_len": 64, "patch_size": 4, "image_size": None},
    # body.attention: eager, the released code's (orca/model/backbones.py DEFAULT_ATTENTION); only refine's settings
    # hold it: align reads body.pretrained alone (its embedder starts from the body's input-embedding tensors and
    # the sources stage embeds with them too; neither runs the encoder, so neither passes through attention)
    "body": {"pretrained": True, "dropout": None, "attention": "eager"},
    # align: None = taken from refine when the task is loaded (ORCA aligns with the task's own optimizer)
    "align": {"epochs": 10, "maxsamples": 64, "batch_size": None, "lr": None, "optimizer": None,
              "weight_decay": None, "momentum": None, "betas": None, "scheduler": None,
              "pseudo_labels": 10, "max_source": 5000},
    "refine": {"epochs": 10, "batch_size": 32, "eval_batch_size": 256, "optimizer": "adamw", "lr": 1e-4,
               "weight_decay": 0.0, "momentum": 0.9, "betas": [0.9, 0.98], "scheduler": None,
               "accum": 1, "clip": 1.0, "precision": "fp32",  # fp32: the released code's (orca/training/precision.py)
               # full: every body weight trains, the released code's (orca/model/finetune.py); refine.lora is in a
               # job's settings only when it runs LoRA (orca.spec.jobs.resolve_job)
               "finetune": "full", "lora": {"rank": 8, "alpha": 8, "dropout": 0.0, "target_modules": None}},
    "resources": {"mem_mb": 4000, "runtime_min": 60, "gpus": 0, "cpus": 1},
    "baselines": [],
    "published": [],
}
DATA_DEFAULTS = {"val_fraction": 0.1}


class TaskError(ValueError):
    """A task file that cannot be used; the message names the file, the field and the fix."""


#: Typed sections of a Task and how each is built from the resolved mapping.
_TYPED = {
    "title": lambda s: s["title"], "suite": lambda s: s["suite"], "metric": lambda s: s["metric"],
    "input": lambda s: _section(InputSpec, s["input"]), "output": lambda s: _section(OutputSpec, s["output"]),
    "data": lambda s: _section(DataSpec, s["data"]), "loss": lambda s: _section(LossSpec, s["loss"]),
    "embedder": lambda s: _section(EmbedderSpec, s["embedder"]), "body": lambda s: _section(BodySpec, s["body"]),
    "align": lambda s: _section(AlignSpec, s["align"]), "refine": lambda s: _section(RefineSpec, s["refine"]),
    "eval": lambda s: _section(EvalSpec, s.get("eval") or {}),
    "resources": lambda s: _section(ResourcesSpec, s["resources"]),
    "published": lambda s: tuple(_section(PublishedRef, p) for p in s.get("published") or ()),
    "baselines": lambda s: tuple(s["baselines"]),
    "prepare": lambda s: _section(PrepareSpec, s["prepare"]) if s.get("prepare") else None,
    "sizes": lambda s: dict(s["sizes"]) if s.get("sizes") else None,  # the real split sizes (orca.sizing)
}
LABEL_FIELDS = frozenset({"title", "suite", "published"})  # every view has them (they name, never change a number)


@dataclass(frozen=True, eq=False)
class Task:
    """One validated task file (defaults filled) with a typed view of each section.

    ``spec`` is the resolved task-file mapping (what ``orca.spec.jobs.resolve_job`` cuts a job's settings from).
    ``sections`` (None: all) limits the view to what one stage reads (:func:`task_view`); reading another
    section raises AttributeError naming it, so a stage cannot depend on a setting its cache key leaves out.
    """
    name: str
    path: Path
    spec: dict = field(repr=False)
    sections: frozenset | None = field(default=None, repr=False)
    title: str = field(init=False)
    suite: str = field(init=False)
    input: InputSpec = field(init=False, repr=False)
    output: OutputSpec = field(init=False, repr=False)
    data: DataSpec = field(init=False, repr=False)
    loss: LossSpec = field(init=False, repr=False)
    metric: str = field(init=False, repr=False)
    embedder: EmbedderSpec = field(init=False, repr=False)
    body: BodySpec = field(init=False, repr=False)
    align: AlignSpec = field(init=False, repr=False)
    refine: RefineSpec = field(init=False, repr=False)
    eval: EvalSpec = field(init=False, repr=False)
    resources: ResourcesSpec = field(init=False, repr=False)
    published: tuple[PublishedRef, ...] = field(init=False, repr=False)
    baselines: tuple[str, ...] = field(init=False, repr=False)
    prepare: PrepareSpec | None = field(init=False, repr=False)
    sizes: dict | None = field(init=False, repr=False)

    def __post_init__(self):
        wanted = _TYPED if self.sections is None else (LABEL_FIELDS | self.sections)
        for key in wanted:
            object.__setattr__(self, key, _TYPED[key](self.spec))

    def __getattr__(self, key: str):  # only called for a typed section this view left out
        if key in _TYPED:
            raise AttributeError(f"task {self.name!r}: this stage's settings hold no {key!r} section (it reads "
                                 f"{', '.join(sorted(self.sections or ()))}); add the path to "
                                 "orca.spec.jobs.TASK_PATHS so that its cache key covers it")
        raise AttributeError(key)

    @property
    def published_key(self) -> dict | None:
        """The first published reference as a mapping (what run records carry), or None."""
        return self.spec["published"][0] if self.spec.get("published") else None


def task_view(spec: dict, path: str | Path | None, sections: frozenset | None = None) -> Task:
    """A Task over an already resolved mapping (a job's settings document: no file read, nothing re-derived)."""
    return Task(spec["name"], Path(path) if path else Path("<job settings>"), spec, sections)


@lru_cache(maxsize=1)
def _schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


@lru_cache(maxsize=1)
def _validator():
    """The task schema's validator, built once per process (the planner validates every task file)."""
    return jsonschema.Draft202012Validator(_schema())


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
    errors = sorted(_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        loc = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise TaskError(f"{where}: invalid task file at {loc}: {err.message}")


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader where built: same documents


def read_yaml(path: Path):
    """The parsed YAML document at ``path``, parsed once per file version (finding the task files and loading
    them read each one); callers must not modify it (``load_task`` merges into a copy)."""
    stat = Path(path).stat()
    return _parsed_yaml(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=512)
def _parsed_yaml(path: str, mtime_ns: int, size: int):
    return yaml.load(Path(path).read_text(), Loader=_YAML_LOADER)


def load_task(path: str | Path, overrides: dict | None = None) -> Task:
    """Read, validate and complete one task file. ``overrides`` are merged in (e.g. {"refine": {"epochs": 2}})."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"task file {path} does not exist")
    try:
        raw = read_yaml(path)
    except yaml.YAMLError as err:
        raise TaskError(f"{path}: malformed YAML: {err}") from err
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: a task file must be a YAML mapping (key: value), got {_yaml_kind(raw)}")
    raw = _merge(raw, overrides or {})
    _check_moved_keys(raw, path)
    validate_spec(raw, str(path))
    spec = _merge(DEFAULTS, raw)
    spec["data"] = _merge(DATA_DEFAULTS, spec["data"])
    _resolve_training(spec, path)
    _check_names(spec, path)
    _check_target_options(spec, path)
    _check_loss_kind(spec, path)
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
    from ..training.optim import align_lr, check_schedule, resolve_schedule  # imports no torch (optim: lazily)
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
    from ..training.loss_names import LOSS_KINDS
    from ..evaluation.metrics import METRICS

    if spec["metric"] not in METRICS:
        raise TaskError(f"{path}: unknown metric {spec['metric']!r}; allowed: {', '.join(sorted(METRICS))}")
    if spec["loss"]["name"] not in LOSS_KINDS:
        raise TaskError(f"{path}: unknown loss {spec['loss']['name']!r}; allowed: {', '.join(sorted(LOSS_KINDS))}")
    from ..data import LOADERS, check_prepare

    if spec["data"]["loader"] not in LOADERS:
        raise TaskError(f"{path}: unknown data loader {spec['data']['loader']!r}; "
                        f"allowed: {', '.join(sorted(LOADERS))}")
    if spec.get("prepare") is not None:
        try:
            check_prepare(spec["prepare"])
        except ValueError as err:
            raise TaskError(f"{path}: invalid task file at prepare: {err}") from None


def _check_loss_kind(spec: dict, path: Path) -> None:
    """loss.name fits output.kind (orca/training/loss_names.py LOSS_KINDS), or training fails at its first batch."""
    from ..training.loss_names import LOSS_KINDS

    loss, kind = spec["loss"]["name"], spec["output"]["kind"]
    if kind not in LOSS_KINDS[loss]:
        allowed = sorted(name for name, kinds in LOSS_KINDS.items() if kind in kinds)
        raise TaskError(f"{path}: loss.name {loss!r} does not fit output.kind {kind!r}; allowed for {kind}: "
                        f"{', '.join(allowed)} (or correct output.kind)")


def _check_target_options(spec: dict, path: Path) -> None:
    """output.ignore and data.normalize.targets need a loss/metric/output kind that can honour them."""
    from ..training.loss_names import MASKABLE
    from ..evaluation.metrics import METRICS

    if spec["output"].get("ignore"):
        if spec["loss"]["name"] not in MASKABLE:
            raise TaskError(f"{path}: output.ignore needs a loss that can skip target entries, not "
                            f"{spec['loss']['name']!r}; allowed: {', '.join(sorted(MASKABLE))}")
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


def _yaml_kind(value) -> str:
    """What a YAML document that is not a mapping holds, in words: 'a list', 'a string', ..."""
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number",
            type(None): "an empty document"}.get(type(value), f"a {type(value).__name__}")


def find_task_files(benchmark_dirs: list[str | Path]) -> dict[str, Path]:
    """Map task name -> file for every ``*.yaml`` under the given folders. Duplicate names are an error."""
    found: dict[str, Path] = {}
    for folder in benchmark_dirs:
        folder = Path(folder)
        if not folder.is_dir():
            raise TaskError(f"benchmark folder {folder} does not exist")
        for path in sorted(folder.rglob("*.yaml")):
            try:
                raw = read_yaml(path) or {}
            except yaml.YAMLError as err:
                raise TaskError(f"{path}: malformed YAML: {err}") from err
            if not isinstance(raw, dict):
                raise TaskError(f"{path}: a task file must be a YAML mapping (key: value), got "
                                f"{_yaml_kind(raw)}; write its settings as 'name: ...', 'input: ...' at the top level")
            name = raw.get("name")
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
