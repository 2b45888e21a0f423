# Config validation, task loading and grid expansion shared by every rule file.
import os

from snakemake.utils import validate

from orca.report import report_targets
from orca.report.resources import resource_targets
from orca.plan.config import planning_config
from orca.align.catalog import SNAPSHOT_FILE, epoch_variant
from orca.plan.grid import ALIGN_DIR, BASELINE_PATH, RUN_PATH, Grid


validate(config, "../schemas/config.schema.yaml")
# a relative task folder or published CSV not under the working directory but beside this Snakefile is that file,
# so that a workflow importing this one as a module (README: Reuse as a module) may write `benchmarks: [benchmarks,
# my-tasks]`; under the project's own folder nothing changes (orca.plan.config.planning_config)
GRID = Grid(planning_config(config, ORCA_DIR if ORCA_LOCAL else None))
CACHE = config["cache_dir"]
RESULTS = config["results_dir"]
REPORTS = config["reports_dir"]
DATA_DIR = GRID.data_dir
LOGS = config.get("logs_dir", "logs")
CONDA_ENV = "../envs/orca.yaml"  # relative to the rule files; used with --software-deployment-method conda
CHECKPOINT_EVERY = config.get("checkpoint_every_s", 60)  # seconds between epoch-end checkpoints (not a setting)


wildcard_constraints:
    seed=r"\d+",
    task=r"[a-z0-9][a-z0-9._-]*",
    protocol=r"original|clean",


def table_targets(name):
    """Every file one table target produces, by kind (orca.report.report_targets: csv, md, tex, html, png, ...)."""
    summary = bool(config["tables"][name].get("summary"))
    return {k: str(p) for k, p in report_targets(name, RESULTS, REPORTS, summary).items()}


def table_outputs(name):
    """Every file one table target produces, as a list."""
    return list(table_targets(name).values())


def resource_outputs(name):
    """The files of table ``name``'s resource table (built by resources_<name>; orca.report.resources): {csv, md}."""
    return {k: str(p) for k, p in resource_targets(name, RESULTS, REPORTS).items()}


def resources_of(key):
    """Per-job resources read from the task file (not from the rule); later attempts get more."""

    def get(wildcards, attempt):
        value = getattr(GRID.task(wildcards.task).resources, key)
        return value * attempt if key in ("mem_mb", "runtime_min") else value

    return get


def data_dir(wildcards):
    """The data folder (a function: a plain string that prefixes output paths reads as a hard-coded path)."""
    return DATA_DIR


def standin_stamp(wildcards):
    """Rehearsal runs only (config rehearsal: true): the task's stand-in raw data (rule standin) come first."""
    return [f"{CACHE}/standins/{wildcards.task}.json"] if config.get("rehearsal") else []


def prepared_stamp(wildcards):
    """The prepare rule's record for a task with a `prepare:` step; nothing for the others."""
    return [f"{CACHE}/prepared/{wildcards.task}.json"] if GRID.task(wildcards.task).prepare else []


def aligned_embedder(wildcards):
    """What a refine job's embedder comes from (nothing for methods that train none, e.g. 'none'): the align job's
    embedder.pt, or for an embedder-epochs variant (<aligner>-e<k>) its align.json, beside which the snapshot
    embedder-e<k>.pt was saved (embedder_file)."""
    if not GRID.trains_embedder(wildcards.method):
        return []
    aligner, epochs = epoch_variant(wildcards.method)
    cell = ALIGN_DIR.format(task=wildcards.task, backbone=wildcards.backbone, method=aligner,
                           protocol=wildcards.protocol, seed=wildcards.seed)
    return f"{CACHE}/{cell}/{'embedder.pt' if epochs is None else 'align.json'}"


def embedder_file(wildcards, path):
    """The embedder file a refine job reads, given its aligned_embedder input ``path``."""
    _, epochs = epoch_variant(wildcards.method)
    return path if epochs is None else os.path.join(os.path.dirname(path), SNAPSHOT_FILE.format(epochs=epochs))


# Sizing (workflow/rules/sizing.smk): the units are planned on first use, so a plain run never plans them.
from orca.sizing.shapes import sizing_units

SIZING_RUN = config.get("sizing_run") or {}
SIZING_DIR = SIZING_RUN.get("dir", "results/sizing")
SIZING_DEVICE = SIZING_RUN.get("device", "cpu")
SIZING_UNITS = {}


def planned_units():
    """name -> sizing unit of the config's targets, planned on first use (a plain run never plans them)."""
    if not SIZING_UNITS:
        SIZING_UNITS.update({u.name: u for u in sizing_units(GRID, None, config.get("sizing"))})
    return SIZING_UNITS


def sizing_records(wildcards=None):
    """Every sizing record the cost table reads."""
    return [f"{SIZING_DIR}/{name}--{SIZING_DEVICE}.json" for name in planned_units()]
