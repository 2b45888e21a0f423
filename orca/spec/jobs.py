"""One job's resolved settings: computed once (by the planner or the CLI), handed to the job, checked by it.

A job of any stage (fetch, prepare, standin, sources, align, refine, baseline, report) runs from one plain,
JSON-serialisable document, :class:`JobSettings`::

    {"format": "orca-job/1",
     "job": {"task": "iris", "backbone": "minilm-l6", "method": "l2", "protocol": "clean", "seed": 0},
     "settings": {"stage": "refine", "mode": "real",                    # hashed: the job's settings key
                  "task": {<the resolved task-file sections the stage reads, and nothing else>},
                  ...stage extras (a body's weights location, the code version, a report's options)},
     "labels": {"name": "iris", "title": ..., "suite": ..., "published": [...]},  # not hashed: names only
     "task_file": "benchmarks/offline/iris.yaml",
     "settings_hash": "3f2a..."}

``settings.task`` is cut from the fully resolved task (task file + config overrides + defaults + values
derived at load time, e.g. align's optimizer taken from refine) along :data:`TASK_PATHS`, so a job sees exactly
the values its hash names: it builds its task view from the document (:meth:`JobSettings.task`) and reads
nothing from the task file; a section the stage does not depend on is not there to read
(``orca.spec.tasks.Task`` raises naming it). ``mode`` (``real`` or ``rehearsal``) is a setting like any other,
so a rehearsal's result never shares a cache key with a real one. :func:`JobSettings.from_json` recomputes the
hash and refuses a document whose hash differs from the one the planner wrote (or the rule passed).
The job's identity (its rule's wildcards, also its output path) is not hashed: the seeds of one grid cell
share their settings hash, which is how a table checks that its seeds ran with the same settings.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

__all__ = ["CACHE_KEYS", "FORMAT", "IDENTITY", "JobSettings", "JobSettingsError", "MODES", "STAGES", "TASK_PATHS",
           "cut", "job_extras", "resolve_job", "settings_hash"]

FORMAT = "orca-job/1"
MODES = ("real", "rehearsal", "sizing")  # sizing: measurements at real size, never results (orca.sizing)
LABELS = ("name", "title", "suite", "published")  # what a record names a task by; never changes a number

#: The resolved task-file paths each stage reads (whole sections, or one key of a section); the one definition
#: behind a job's settings, its hash (the cache key Snakemake compares) and the task view the job runs with.
TASK_PATHS: dict[str, tuple[str, ...]] = {
    "fetch": ("data", "prepare"),
    "prepare": ("data", "prepare"),
    "standin": ("data", "input", "output", "prepare"),
    # align reads output (the class ids, or pseudo-labels of the targets) and eval (per-clip groups) through the
    # data split; of the body only whether it is pretrained (the embedder starts from its tensors)
    "align": ("data", "input", "output", "eval", "embedder", "body.pretrained", "align"),
    "refine": ("data", "input", "output", "eval", "embedder", "body", "loss", "metric", "refine"),
    "baseline": ("data", "input", "output", "eval", "metric"),
    "sources": (),
    "report": (),
    # sizing one (task, backbone) at its real shapes (orca.sizing): what align and refine read, and the real
    # split sizes the cost is scaled to
    "size": ("data", "prepare", "input", "output", "eval", "embedder", "body", "loss", "metric", "align", "refine",
             "sizes"),
}
STAGES = tuple(TASK_PATHS)
#: The identity keys of each stage's jobs (the wildcards of its rule).
IDENTITY: dict[str, tuple[str, ...]] = {
    "fetch": ("task",), "prepare": ("task",), "standin": ("task",), "sources": ("backbone",),
    "align": ("task", "backbone", "method", "protocol", "seed"),
    "refine": ("task", "backbone", "method", "protocol", "seed"),
    "baseline": ("task", "method", "seed"), "report": ("table",), "size": ("task", "backbone"),
}


class JobSettingsError(ValueError):
    """A settings document that cannot be run: malformed, for another stage, or not the one that was planned."""


def settings_hash(settings: dict) -> str:
    """A short stable hash (12 hex digits) of a JSON-serialisable settings dict."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


_MISSING = object()


def _get(spec: dict, dotted: str):
    value = spec
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def cut(spec: dict, paths: tuple[str, ...]) -> dict:
    """The parts of ``spec`` at ``paths`` (dotted), nested as in ``spec``; a path ``spec`` lacks is left out.
    The values are ``spec``'s own (not copies): :func:`resolve_job` copies them into the document."""
    out: dict = {}
    for dotted in paths:
        value = _get(spec, dotted)
        if value is _MISSING or value is None:
            continue
        *parents, last = dotted.split(".")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return out


def _jsonable(obj):
    """A copy of ``obj`` as JSON would give it back (tuples -> lists, other objects -> str), so a document
    hashes the same before and after it travels."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def resolve_job(stage: str, identity: dict, mode: str = "real", task=None, extra: dict | None = None) -> JobSettings:
    """The settings document of one job: ``identity`` (its wildcards, :data:`IDENTITY`), the ``mode``, the
    sections of the resolved ``task`` (orca.spec.tasks.Task) that ``stage`` reads, and ``extra`` settings
    (e.g. ``{"body_source": ...}``, ``{"code": ...}``); everything in it but the labels is hashed."""
    if stage not in TASK_PATHS:
        raise JobSettingsError(f"unknown stage {stage!r}; allowed: {', '.join(STAGES)}")
    if mode not in MODES:
        raise JobSettingsError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")
    keys = IDENTITY[stage]
    if set(identity) != set(keys):
        raise JobSettingsError(f"a {stage} job is named by {', '.join(keys)}; got {', '.join(sorted(identity))}")
    settings = {"stage": stage, "mode": mode}
    if task is not None:
        settings["task"] = cut(task.spec, TASK_PATHS[stage])
    settings.update(extra or {})
    settings = _jsonable(settings)
    if stage == "refine" and task is not None:
        _method_refine(settings["task"]["refine"], identity["method"])
    elif stage == "size" and task is not None and "lora" not in settings.get("modes", ()):
        settings["task"]["refine"].pop("lora", None)  # sized only where a table runs LoRA
    labels = _jsonable({k: task.spec.get(k) for k in LABELS}) if task is not None else {}
    return JobSettings(_jsonable({k: identity[k] for k in keys}), settings, labels,
                       str(task.path) if task is not None else None, settings_hash(settings))


def _method_refine(refine: dict, method: str | None) -> None:
    """A method's own refine settings written into ``refine`` (a control's, e.g. ``lora``: finetune lora;
    orca/stages/controls.py); ``lora`` kept only where the job runs LoRA, so LoRA's settings are not in the
    hash of a job they do not change."""
    from ..stages.controls import method_refine_settings

    refine.update(_jsonable(method_refine_settings(method)))
    if refine.get("finetune", "full") != "lora":
        refine.pop("lora", None)


#: ``cache_key`` values: what a job's settings hash names (README: Caching).
CACHE_KEYS = ("settings", "settings+code")


def job_extras(stage: str, weights: str | None = None, code: bool = False, backbone: str | None = None) -> dict:
    """The settings beside the task's that planner and CLI add alike: a body's ``weights`` location (stages that
    load a body, when set), the spec of a ``backbone`` that is not built in (``backbone_spec``: a user's backbone
    file, orca.model.specs.spec_setting) and, with ``code`` (``cache_key: settings+code``), the hash of the source
    of the modules the stage runs (orca.spec.code_version), so a changed loss re-runs refine and a changed report
    not."""
    extra: dict = {}
    if weights and stage in ("sources", "align", "refine"):
        extra["weights"] = str(weights)
    if backbone and stage in ("sources", "align", "refine", "size"):
        from ..model.specs import spec_setting

        spec = spec_setting(backbone)
        if spec is not None:
            extra["backbone_spec"] = spec
    if code:
        from .code_version import stage_code_hash

        extra["code"] = stage_code_hash(stage)
    return extra


@dataclass(frozen=True)
class JobSettings:
    """One job's resolved settings document (see the module docstring)."""
    job: dict  # the job's identity: its task, backbone, method, protocol, seed (those its stage has)
    settings: dict
    labels: dict
    task_file: str | None
    settings_hash: str

    @property
    def stage(self) -> str:
        return self.settings["stage"]

    @property
    def mode(self) -> str:
        return self.settings["mode"]

    @property
    def rehearsal(self) -> bool:
        return self.settings["mode"] == "rehearsal"

    def get(self, key: str, default=None):
        """A stage extra setting (e.g. ``body_source``)."""
        return self.settings.get(key, default)

    @property
    def method_settings(self) -> dict:
        """The resolved settings of the job's method (``method.settings``; empty when it has none)."""
        return dict((self.settings.get("method") or {}).get("settings") or {})

    def register_files(self) -> None:
        """Make the user's backbone and method this document names (``backbone_spec``, ``method.file``) known to
        this process, as the planner knew them (orca.model.specs, orca.methods)."""
        from ..methods import register_method_setting
        from ..model.specs import register_spec_setting

        register_spec_setting(self.settings.get("backbone_spec"), f"the {self.stage} job's settings")
        register_method_setting(self.settings.get("method"), f"the {self.stage} job's settings")

    @cached_property
    def task(self):
        """The task as this stage sees it (orca.spec.tasks.Task): the document's sections and labels only."""
        from .tasks import task_view

        if "task" not in self.settings:
            raise JobSettingsError(f"a {self.stage} job has no task")
        return task_view({**copy.deepcopy(self.settings["task"]), **copy.deepcopy(self.labels)},
                         self.task_file, sections=_sections(self.stage))

    def to_json(self) -> dict:
        return copy.deepcopy({"format": FORMAT, "job": self.job, "settings": self.settings, "labels": self.labels,
                              "task_file": self.task_file, "settings_hash": self.settings_hash})

    def dumps(self) -> str:
        """The document as the rule passes it (one line of JSON; nothing is copied on the way)."""
        doc = {"format": FORMAT, "job": self.job, "settings": self.settings, "labels": self.labels,
               "task_file": self.task_file, "settings_hash": self.settings_hash}
        return json.dumps(doc, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, doc: dict, stage: str | None = None, expected_hash: str | None = None,
                  where: str = "--job") -> JobSettings:
        """The document ``doc`` (from :meth:`to_json`); JobSettingsError when it is not one, is for another stage,
        or its settings do not hash to its own ``settings_hash`` or to ``expected_hash`` (what the rule planned)."""
        if (not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("settings"), dict)
                or not isinstance(doc.get("job"), dict)):
            raise JobSettingsError(f"{where}: not a job settings document ({FORMAT}); let the workflow write it, or "
                                   "run the stage with --task and its options instead of --job")
        job = cls(doc["job"], doc["settings"], doc.get("labels") or {}, doc.get("task_file"), doc.get("settings_hash"))
        if stage is not None and job.stage != stage:
            raise JobSettingsError(f"{where}: the document is a {job.stage} job's, not a {stage} job's")
        if job.stage not in IDENTITY or set(job.job) != set(IDENTITY[job.stage]):
            raise JobSettingsError(f"{where}: a {job.stage} job is named by {', '.join(IDENTITY.get(job.stage, ()))}; "
                                   f"the document names {', '.join(sorted(job.job))}")
        computed = settings_hash(job.settings)
        for name, want in (("its own settings_hash", job.settings_hash), ("the planned --settings-hash", expected_hash)):
            if want is not None and want != computed:
                raise JobSettingsError(
                    f"{where}: the settings hash to {computed}, not {want} ({name}): the job would run with other "
                    "settings than were planned; plan again (rerun snakemake) rather than editing a job's settings")
        return job

    @classmethod
    def loads(cls, text: str, stage: str | None = None, expected_hash: str | None = None) -> JobSettings:
        """From ``--job`` text: a JSON document, or ``@PATH`` of a file holding one."""
        where = "--job"
        if text.startswith("@"):
            where = f"--job {text}"
            with open(text[1:]) as fh:
                text = fh.read()
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise JobSettingsError(f"{where}: not JSON ({err}); pass the document the workflow wrote") from None
        return cls.from_json(doc, stage, expected_hash, where)


def _sections(stage: str) -> frozenset[str]:
    """The task-file sections a stage's task view holds (the first key of each of its paths)."""
    return frozenset(p.split(".")[0] for p in TASK_PATHS[stage])
