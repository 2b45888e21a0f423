"""``orca export``: run records -> an experiment tracker. One target so far: ``orca export mlflow``.

  orca export mlflow [--tracking-uri URI] [--results-dir DIR] [--configfile F] [--default-table NAME] [TABLE_OR_RUN_FILE ...]

Wired into orca/cli.py through :func:`add_export_parser` (the parser) and :func:`run_export` (the command).
Exit status: 0 on success, 2 for bad input (the message names the cause and the fix).
"""
from __future__ import annotations

import argparse
import sys


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``export`` sub-command (with its ``mlflow`` sub-command) to ``subparsers`` (what
    ``ArgumentParser.add_subparsers`` returned); returns the ``export`` parser. The chosen target is
    ``args.export_target``."""
    from .mlflow_runs import DEFAULT_STORE, EXPERIMENT_PREFIX, UNTABLED

    p = subparsers.add_parser("export", help="export run records to an experiment tracker (mlflow)",
                              description="Export run records to an experiment tracker.")
    targets = p.add_subparsers(dest="export_target", required=True, metavar="TARGET")
    m = targets.add_parser(
        "mlflow", help="one MLflow run per run record (params, per-epoch metrics, tags, the record as artifact)",
        description="One MLflow run per run record: params = the resolved settings (dot keys), metrics = the "
                    "per-epoch history (step = epoch) and the final scores, tags = identity, settings hash, "
                    f"commit and rehearsal marks, artifact = the record file. One experiment per table "
                    f"({EXPERIMENT_PREFIX}<table>). Exporting again skips unchanged runs and replaces changed ones. "
                    "Needs mlflow: pip install 'orca-bench[mlflow]'.")
    m.add_argument("targets", nargs="*", metavar="TABLE_OR_RUN_FILE",
                   help="a run record file, or a table name (a table of the config: the run files its report reads; "
                        "else every record under --results-dir filed under it); "
                        "none: every record under --results-dir")
    m.add_argument("--tracking-uri", default=None, metavar="URI",
                   help=f"where to export: a folder or file:///... (a file store), sqlite:///..., http://... "
                        f"(default: $MLFLOW_TRACKING_URI, else ./{DEFAULT_STORE})")
    m.add_argument("--results-dir", default="results", metavar="DIR",
                   help="the folder holding runs/ and baselines/ (default: results)")
    m.add_argument("--configfile", action="append", default=None, metavar="FILE",
                   help="the config file(s) the tables were built with, merged over config/config.yaml as Snakemake "
                        "does (a table name exports the run files its report reads)")
    m.add_argument("--default-table", default=None, metavar="NAME",
                   help="the table of records without a 'table' field (the stages write none), as `orca report "
                        f"--table` counts them; default: {UNTABLED}")
    return p


def run_export(args: argparse.Namespace) -> int:
    """Run the export ``args`` (from :func:`add_export_parser`) asks for; returns the exit status (2 with the
    cause on stderr for bad input)."""
    from .mlflow_runs import ExportError, export_mlflow

    if args.export_target != "mlflow":  # argparse allows only the targets above
        print(f"orca export: error: unknown target {args.export_target!r}; allowed: mlflow", file=sys.stderr)
        return 2
    try:
        export_mlflow(args.targets, args.tracking_uri, args.results_dir, args.default_table,
                      configfiles=args.configfile)
    except ExportError as err:
        print(f"orca export mlflow: error: {err}", file=sys.stderr)
        return 2
    return 0
