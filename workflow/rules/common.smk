# Config validation, task loading and grid expansion shared by every rule file.
import json
import os

from snakemake.utils import validate

from orca.report import report_targets
from orca.workflow_support import Grid

validate(config, "../schemas/config.schema.yaml")
GRID = Grid(config)
CACHE = config["cache_dir"]
RESULTS = config["results_dir"]
REPORTS = config["reports_dir"]
DATA_DIR = GRID.data_dir
LOGS = config.get("logs_dir", "logs")
# A rehearsal (config rehearsal: true, config/rehearsal.yaml) is told to every job through this one variable
# (read by orca.rehearsal.active); set either way, so a stray value in the shell never leaks into a real run.
os.environ["ORCA_REHEARSAL"] = "1" if config.get("rehearsal") else "0"


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


def task_file(wildcards):
    return str(GRID.task_files[wildcards.task])


def resources_of(key):
    """Per-job resources read from the task file (not from the rule); later attempts get more."""

    def get(wildcards, attempt):
        value = GRID.task(wildcards.task)["resources"][key]
        return value * attempt if key in ("mem_mb", "runtime_min") else value

    return get
