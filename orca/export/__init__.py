"""Run records -> experiment trackers (``orca export ...``).

``mlflow_runs``: every run record (orca.stages.records) becomes one MLflow run (:func:`export_mlflow`); MLflow is
an optional dependency (``pip install 'orca-bench[mlflow]'``), imported only when an export runs.
``cli``: the ``orca export`` sub-command (:func:`add_export_parser`, :func:`run_export`).
"""
from __future__ import annotations

from .mlflow_runs import ExportError, export_mlflow

__all__ = ["ExportError", "export_mlflow"]
