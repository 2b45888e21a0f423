# orca-bench: the task x backbone x aligner x seed grid of ORCA (align, then refine) as a Snakemake DAG.
#   snakemake                      build the tables listed under `targets` in config/config.yaml
#   snakemake table_default        build one table (or ask for its file: results/default.csv)
#   snakemake --profile slurm      the same on a SLURM cluster
#   snakemake --configfile config/rehearsal.yaml -c2   every paper table on stand-in data (README: Rehearsal)
#   snakemake --report reports/report.html   the HTML report of the built tables (after a run)
import os

from snakemake.utils import min_version

min_version("8.10")


# This workflow's own folder, also when another workflow imports it as a module (README: Reuse as a module):
# `workflow.basedir` is then the importer's folder. The defaults below and the project's task files are found
# from here. A module's `configfile:` is skipped when the importer passes `config: config`.
ORCA_DIR = workflow.current_basedir.get_path_or_uri(secret_free=False)
ORCA_LOCAL = os.path.isdir(ORCA_DIR)  # False when imported from a hosting provider: github(...) in `module`
DEFAULT_CONFIG = (os.path.join(ORCA_DIR, "config", "config.yaml") if ORCA_LOCAL
                  else workflow.source_path("config/config.yaml"))


configfile: DEFAULT_CONFIG


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


rule all:
    default_target: True
    input:
        [table_outputs(name) for name in config["targets"]],
        [list(resource_outputs(name).values()) for name in config["targets"]],


include: "workflow/rules/data.smk"
include: "workflow/rules/sources.smk"
include: "workflow/rules/align.smk"
include: "workflow/rules/refine.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/warm_worker.smk"
include: "workflow/rules/rehearsal.smk"
include: "workflow/rules/sizing.smk"
