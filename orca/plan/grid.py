"""The grid behind the Snakefile: validated names, loaded task files and the paths of every run.

Kept in the package (not in the .smk files) so it is tested like any other module. Every name in
the config is checked against its registry before a single job starts.
"""
from __future__ import annotations

import os

from ..align.catalog import epoch_variant
from ..spec.jobs import IDENTITY, JobSettings, job_extras, resolve_job
from ..spec.tasks import find_task_files, load_task

# Where each job writes, relative to the results / cache folder: the rules' outputs and the table's inputs.
RUN_PATH = "runs/{task}/{backbone}/{method}/{protocol}/seed{seed}.json"
BASELINE_PATH = "baselines/{task}/{method}/seed{seed}.json"
ALIGN_DIR = "align/{task}/{backbone}/{method}/{protocol}/seed{seed}"
#: Per job of each measured stage: ``<results>/benchmarks/<JOB_PATH>.tsv`` (Snakemake's ``benchmark:``),
#: ``<results>/benchmarks/<JOB_PATH>.usage.json`` (the job's own figures, orca.runtime.usage) and
#: ``<logs>/<JOB_PATH>.log``.
JOB_PATHS = {
    "sources": "sources/{backbone}",
    "align": "align/{task}/{backbone}/{method}/{protocol}/seed{seed}",
    "refine": "refine/{task}/{backbone}/{method}/{protocol}/seed{seed}",
    "baseline": "baseline/{task}/{method}/seed{seed}",
}
#: What the jobs that do not read their task's ``resources`` ask for (attempt 1; retries ask for more).
FIXED_RESOURCES = {
    "sources": {"mem_mb": 4000, "runtime_min": 60, "gpus": 0},
    "baseline": {"mem_mb": 2000, "runtime_min": 30, "gpus": 0},
}


class ConfigError(ValueError):
    """A config that names something that does not exist; the message gives the key and the allowed values."""


def registries() -> dict[str, list[str]]:
    """The names a table may use, by table key: backbones (files), align methods and controls (method files),
    classical baselines."""
    from ..methods import methods_of_kind
    from ..model.specs import BACKBONES
    from ..stages.baselines import BASELINES

    return {"backbones": sorted(BACKBONES), "aligners": methods_of_kind("align"), "baselines": sorted(BASELINES),
            "controls": methods_of_kind("control")}


def register_config_files(config: dict) -> None:
    """Register the config's own backbone and method folders (``backbone_dirs``, ``method_dirs``) beside the
    built-in ones; ConfigError naming the key for a folder or file that cannot be used."""
    from ..methods import MethodError, register_method_dirs
    from ..model.specs import BackboneSpecError, register_backbone_dirs

    for key, register, error in (("backbone_dirs", register_backbone_dirs, BackboneSpecError),
                                 ("method_dirs", register_method_dirs, MethodError)):
        try:
            register(config.get(key) or [])
        except error as err:
            raise ConfigError(f"config {key}: {err}") from None


def network_methods(table: dict) -> list[str]:
    """A table's network methods: its aligners, each embedder-training one also after each of its
    ``align_epochs`` (``<aligner>-e<e>``, read from one align run's snapshots), then its controls."""
    from ..align.catalog import trains_embedder

    out = []
    for m in table["aligners"]:
        out.append(m)
        if trains_embedder(m):
            out += [f"{m}-e{e}" for e in table.get("align_epochs") or []]
    return out + list(table.get("controls", []))


def _check_questions(name: str, table: dict) -> None:
    """A table's ``questions`` compare two of the table's own methods."""
    methods = list(table.get("baselines", [])) + network_methods(table)
    for i, q in enumerate(table.get("questions") or []):
        for key in ("method", "reference"):
            if q[key] not in methods:
                raise ConfigError(f"config tables.{name}.questions[{i}].{key}: {q[key]!r} is not a method of the "
                                  f"table; allowed: {', '.join(methods)}")


def _check_published_tables(name: str, table: dict, published_csv: str | None) -> None:
    """A table's ``published_tables`` are tables of the config's ``published_csv``."""
    wanted = table.get("published_tables") or []
    if not wanted:
        return
    if not published_csv:
        raise ConfigError(f"config tables.{name}.published_tables: the config has no published_csv to read them from")
    import csv

    with open(published_csv, newline="") as fh:
        have = {row["table"] for row in csv.DictReader(fh)}
    unknown = [t for t in wanted if t not in have]
    if unknown:
        raise ConfigError(f"config tables.{name}.published_tables: {', '.join(unknown)} not in {published_csv}; "
                          f"its tables: {', '.join(sorted(have))}")


def _check_summary(name: str, table: dict) -> None:
    """A table's ``summary``: its reference is one of the table's methods, its groups' tasks are the table's."""
    summary = table.get("summary")
    if not summary:
        return
    methods = list(table.get("baselines", [])) + network_methods(table)
    if summary["improvement_over"] not in methods:
        raise ConfigError(f"config tables.{name}.summary.improvement_over: {summary['improvement_over']!r} is not "
                          f"a method of the table; allowed: {', '.join(methods)}")
    for group, spec in summary["groups"].items():
        extra = [t for t in spec["tasks"] if t not in table["tasks"]]
        if extra:
            raise ConfigError(f"config tables.{name}.summary.groups.{group}.tasks: {', '.join(extra)} not in "
                              f"tables.{name}.tasks")


class Grid:
    """task x backbone x method x protocol x seed per table, from a validated config dict."""

    def __init__(self, config: dict):
        self.config = config
        register_config_files(config)
        self.task_files = find_task_files(config["benchmarks"])
        allowed = {"tasks": sorted(self.task_files), **registries()}
        for target in config["targets"]:
            if target not in config["tables"]:
                raise ConfigError(f"config targets: unknown table {target!r}; "
                                  f"allowed: {', '.join(sorted(config['tables']))}")
        used = set()
        for name, table in config["tables"].items():
            for key, names in allowed.items():
                values = table.get(key, [])
                values = [v for vs in values.values() for v in vs] if isinstance(values, dict) else values
                for value in values:
                    if value not in names:
                        raise ConfigError(f"config tables.{name}.{key}: unknown {key[:-1]} {value!r}; "
                                          f"allowed: {', '.join(names)}")
            used.update(table["tasks"])
            _check_summary(name, table)
            _check_questions(name, table)
            _check_published_tables(name, table, config.get("published_csv"))
        self.overrides = config.get("overrides") or {}
        self._tasks: dict = {}
        self._jobs: dict = {}
        for t in sorted(used):
            self.task(t)  # validate every task a table uses before any job starts
        for name, table in config["tables"].items():
            self._check_align_epochs(name, table)
        for name, table in config["tables"].items():
            for task in table["tasks"]:
                self.backbones_for(name, task)  # every row has a body for its modality
        self.data_dir = config.get("data_dir") or os.environ.get("ORCA_DATA_DIR") or f"{config['cache_dir']}/data"
        self._check_method_settings()

    def task(self, name: str):
        """The validated task (config overrides applied), loaded once."""
        if name not in self._tasks:
            if name not in self.task_files:
                raise ConfigError(f"unknown task {name!r}; allowed: {', '.join(sorted(self.task_files))}")
            self._tasks[name] = load_task(self.task_files[name], self.overrides)
        return self._tasks[name]

    def suites(self) -> dict[str, list[str]]:
        """Suite name -> its task names (every task file found, used by a table or not)."""
        out: dict[str, list[str]] = {}
        for name in sorted(self.task_files):
            out.setdefault(self.task(name).suite, []).append(name)
        return out

    def trains_embedder(self, method: str) -> bool:
        """Whether ``method``'s refine jobs read an align job's embedder (controls and ``none`` do not)."""
        from ..align.catalog import trains_embedder

        return trains_embedder(method)

    def _check_method_settings(self) -> None:
        """``method_settings`` name registered methods and only their settings."""
        from ..methods import MethodError, resolve_settings

        for name, values in (self.config.get("method_settings") or {}).items():
            try:
                resolve_settings(name, None, values)
            except MethodError as err:
                raise ConfigError(f"config method_settings.{name}: {err}") from None

    def _check_align_epochs(self, name: str, table: dict) -> None:
        """``align_epochs`` are snapshots of the align run: each below every aligned task's ``align.epochs``."""
        for e in table.get("align_epochs") or []:
            for task in table["tasks"]:
                full = self.task(task).align.epochs
                if e >= full:
                    raise ConfigError(f"config tables.{name}.align_epochs: {e} is not below {task}'s align.epochs "
                                      f"({full}); the aligner's own row is its embedder after all {full} epochs: "
                                      "list only fewer")

    def snapshots(self, task: str, method: str) -> list[int]:
        """The align epochs after which the align job of (``task``, ``method``) saves its embedder: every table's
        ``align_epochs`` that aligns ``task`` with ``method``."""
        return sorted({e for t in self.config["tables"].values() if task in t["tasks"] and method in t["aligners"]
                       for e in t.get("align_epochs") or []})

    @property
    def mode(self) -> str:
        """Every job's ``mode`` setting: ``rehearsal`` under config/rehearsal.yaml, else ``real``."""
        return "rehearsal" if self.config.get("rehearsal") else "real"

    def job(self, stage: str, **identity) -> JobSettings:
        """The resolved settings document of one job (orca.spec.jobs.resolve_job), computed once per job: its
        identity (the rule's wildcards), the mode, its task's sections and the stage's extras."""
        key = (stage, tuple(sorted(identity.items())))
        if key not in self._jobs:
            task = self.task(identity["task"]) if "task" in identity else None
            backbone = identity.get("backbone")
            weights = (self.config.get("backbone_weights") or {}).get(backbone) if backbone else None
            extra = job_extras(stage, weights, self.config.get("cache_key", "settings") == "settings+code", backbone)
            if stage in ("align", "refine"):
                from ..methods import method_setting

                base = epoch_variant(identity["method"])[0]
                method = method_setting(stage, base, identity["task"], (self.config.get("method_settings") or {}).get(base))
                if method:
                    extra["method"] = method
            snapshots = self.snapshots(identity["task"], identity["method"]) if stage == "align" else []
            if snapshots:
                extra["snapshots"] = snapshots
            if stage == "sources":
                extra["sources"] = self._source_origin(backbone)
            elif stage == "report":
                extra["report"] = self._report_options(identity["table"])
            self._jobs[key] = resolve_job(stage, identity, self.mode, task, extra)
        return self._jobs[key]

    def job_of(self, stage: str, wildcards) -> JobSettings:
        """:meth:`job` for a rule's wildcards (``seed`` as a number)."""
        ident = {k: wildcards[k] for k in IDENTITY[stage]}
        if "seed" in ident:
            ident["seed"] = int(ident["seed"])
        return self.job(stage, **ident)

    def _source_origin(self, backbone: str) -> dict:
        """What a backbone's source features are built from (``orca sources`` options as settings)."""
        from ..model.specs import BACKBONES

        arrays = (self.config.get("source_arrays") or {}).get(backbone)
        spec = BACKBONES[backbone]
        # image bodies: the config's image_source, else the backbone file's source_data (swin-base: cifar10)
        image_source = (self.config.get("image_source") or spec.source_data) if spec.family == "image" else "photos"
        return {"max_samples": self.config.get("source_max_samples", 5000), "from_npy": list(arrays) if arrays else None,
                "image_source": image_source}

    def _report_options(self, table: str) -> dict:
        t = self.config["tables"][table]
        optional = {"questions": t["questions"]} if t.get("questions") else {}  # in the settings only when asked
        if t.get("published_tables"):
            optional["published_tables"] = list(t["published_tables"])
        return {"score": t.get("score", "selected"), "summary": t.get("summary"), "reference": "none", **optional,
                "published": self.config.get("published_csv") or None}

    def backbones_for(self, table: str, task: str) -> list[str]:
        """The bodies a table runs ``task`` on: its list, or the list for the task's input modality."""
        backbones = self.config["tables"][table]["backbones"]
        if isinstance(backbones, list):
            return backbones
        modality = self.task(task).input.modality
        if modality not in backbones:
            raise ConfigError(f"config tables.{table}.backbones: no backbone for {modality} rows such as "
                              f"{task!r}; add a '{modality}:' list")
        return backbones[modality]

    def protocols_for(self, table: str) -> list[str]:
        """The evaluation protocols a table runs: its own ``protocols`` or the config's (default ``[clean]``)."""
        return list(self.config["tables"][table].get("protocols") or self.config.get("protocols") or ["clean"])

    def table_runs(self, table: str, results_dir: str) -> list[str]:
        """Result JSON paths of every run of one table (network cells per protocol, then baselines):
        ``runs/<task>/<backbone>/<method>/<protocol>/seed<k>.json``."""
        t = self.config["tables"][table]
        methods = network_methods(t)  # aligners (and their align_epochs variants), then controls
        runs = [f"{results_dir}/" + RUN_PATH.format(task=task, backbone=bb, method=m, protocol=pr, seed=s)
                for task in t["tasks"] for bb in self.backbones_for(table, task) for m in methods
                for pr in self.protocols_for(table) for s in t["seeds"]]
        runs += [f"{results_dir}/" + BASELINE_PATH.format(task=task, method=m, seed=s)
                 for task in t["tasks"] for m in t.get("baselines", []) for s in t["seeds"]
                 if self.task(task).output.kind in ("classification", "regression")]
        return runs

    def requested(self, stage: str, task: str | None = None) -> dict:
        """What one job asks the scheduler for at its first attempt: {mem_mb, runtime_min, gpus}. Align and
        refine read their task file's ``resources``; sources and baselines ask for ``FIXED_RESOURCES``."""
        if stage in FIXED_RESOURCES:
            return dict(FIXED_RESOURCES[stage])
        r = self.task(task).resources
        return {"mem_mb": r.mem_mb, "runtime_min": r.runtime_min, "gpus": r.gpus}

    def table_jobs(self, table: str) -> list[dict]:
        """Every measured job one table needs (sources, align, refine, baseline), each as
        {stage, identity, path (its ``JOB_PATHS`` entry, formatted), requested}: the rows of its resource table."""
        t = self.config["tables"][table]
        jobs: dict[str, dict] = {}

        def add(stage: str, **identity) -> None:
            path = JOB_PATHS[stage].format(**identity)
            if path not in jobs:
                jobs[path] = {"stage": stage, "identity": identity, "path": path,
                              "requested": self.requested(stage, identity.get("task"))}

        methods = network_methods(t)
        for task in t["tasks"]:
            for bb in self.backbones_for(table, task):
                for m in methods:
                    for pr in self.protocols_for(table):
                        for s in t["seeds"]:
                            if self.trains_embedder(m):
                                add("sources", backbone=bb)
                                add("align", task=task, backbone=bb, method=epoch_variant(m)[0], protocol=pr, seed=s)
                            add("refine", task=task, backbone=bb, method=m, protocol=pr, seed=s)
            if self.task(task).output.kind in ("classification", "regression"):
                for m in t.get("baselines", []):
                    for s in t["seeds"]:
                        add("baseline", task=task, method=m, seed=s)
        return list(jobs.values())
