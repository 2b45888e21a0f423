"""Run records -> MLflow runs: what ``orca export mlflow`` does.

Every run record (orca.stages.records: results/runs/... and results/baselines/...) becomes one MLflow run:

- experiment ``orca-bench/<table>`` (``orca-bench/rehearsal/<table>`` for a rehearsal's records, so stand-in
  numbers never sit beside real ones); the table is the record's ``table`` field, else ``default_table``, else
  :data:`UNTABLED` (the stages write no ``table`` field: a run may belong to several tables);
- params: the resolved settings document flattened to dot keys (``task.refine.lr``); a string stays as it is,
  any other value is its JSON (``0.0003``, ``true``, ``null``, ``[0.9, 0.98]``). A key over MLflow's key limit
  (250), a value over its value limit (6000 in MLflow 3) or a key MLflow would refuse is not logged as a param but
  in the artifact :data:`OVERFLOW_ARTIFACT` (``{key: value}``) and counted in the tag ``orca.params_overflow``;
- metrics: each numeric field of refine's per-epoch ``history`` (``train_loss``, ``val`` or ``test``) at
  ``step`` = its epoch, the final ``scores`` as ``scores.<name>`` and ``wall_time_s``, at the last epoch
  (step 0 for a run without history);
- tags (``orca.*``): the identity (task, backbone, method, protocol, seed), table, settings hash, commit,
  rehearsal and sizing marks, the record's SHA-256 and :data:`RUN_KEY_TAG`;
- artifact ``record/<file name>``: the run record file itself.

Idempotent: a run is found again by its tag :data:`RUN_KEY_TAG` = ``<settings_hash>:<task>/<backbone>/<method>/
<protocol>/seed<k>`` (the settings hash does not name the identity: the seeds *and the methods and protocols* of
one task and backbone share it, so the key carries the whole identity). An unchanged record (same SHA-256, run
finished) is skipped; a changed one, or a run an interrupted export left unfinished, replaces the old run (which
is deleted: MLflow params cannot be changed). Every selected record is read and checked before any run is made.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..plan.grid import BASELINE_PATH, RUN_PATH
from ..stages.records import RunRecord, read_record

__all__ = ["EXPERIMENT_PREFIX", "ExportError", "INSTALL_HINT", "OVERFLOW_ARTIFACT", "PlannedRun", "RUN_KEY_TAG",
           "UNTABLED", "export_mlflow", "find_records", "flatten", "plan_run", "run_key", "select_records",
           "split_params", "tracking_uri"]

EXPERIMENT_PREFIX = "orca-bench/"
UNTABLED = "untabled"  # the table of a record without a `table` field when no default table is given
RUN_KEY_TAG = "orca.run_key"
SHA_TAG = "orca.record_sha256"
OVERFLOW_ARTIFACT = "params_overflow.json"
RECORD_ARTIFACT_DIR = "record"
INSTALL_HINT = "pip install 'orca-bench[mlflow]'"
DEFAULT_STORE = "mlruns"  # the file store used when neither --tracking-uri nor $MLFLOW_TRACKING_URI is set

# MLflow's limits (mlflow.utils.validation), used when that module does not say (older versions: 500 per value)
_LIMITS = {"key": 250, "param_value": 6000, "tag_value": 8000, "params_per_batch": 100, "metrics_per_batch": 1000}
_NAME = re.compile(r"^[\w\-. /]+$")  # the characters every MLflow version accepts in a param or metric name
_GLOBS = tuple(re.sub(r"\{[^}]+\}", "*", p) for p in (RUN_PATH, BASELINE_PATH))  # runs/*/*/*/*/seed*.json, ...


class ExportError(ValueError):
    """Bad input to an export (a missing file, a table without runs, MLflow missing, a bad tracking URI); the
    message names the cause and the fix. The CLI exits with status 2."""


@dataclass(frozen=True)
class PlannedRun:
    """One record as it will be logged: its file, experiment name, run key and name, params (str -> str),
    over-long params (key -> value, logged as an artifact), metrics ((key, value, step) triples) and tags."""
    path: Path
    experiment: str
    key: str
    name: str
    sha256: str
    params: dict
    overflow: dict
    metrics: list
    tags: dict


# ---------------------------------------------------------------------------------------------- selecting records

def find_records(results_dir: str | Path) -> list[Path]:
    """Every run record file under ``results_dir`` (its runs/ and baselines/ layouts, orca.plan.grid), sorted;
    ExportError when the folder does not exist."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ExportError(f"results folder {root} does not exist; pass the folder the workflow wrote its runs to "
                          "with --results-dir (default: results)")
    return sorted({p for pattern in _GLOBS for p in root.glob(pattern) if p.is_file()})


def _read(path: Path) -> RunRecord:
    """The record at ``path``, checked enough to be exported; ExportError naming the file otherwise."""
    try:
        rec = read_record(path)
    except ValueError as err:
        raise ExportError(str(err)) from None
    except OSError as err:
        raise ExportError(f"run file {path}: cannot be read ({err.strerror or err})") from None
    problems = []
    if isinstance(rec.seed, bool) or not isinstance(rec.seed, int):
        problems.append(f"seed {rec.seed!r} is not an integer")
    if not isinstance(rec.scores, dict):
        problems.append("scores is not an object")
    if rec.settings is not None and not isinstance(rec.settings, dict):
        problems.append("settings is not an object")
    history = rec.extra.get("history")
    if history is not None and (not isinstance(history, list) or not all(
            isinstance(h, dict) and isinstance(h.get("epoch"), int) and not isinstance(h.get("epoch"), bool)
            for h in history)):
        problems.append("history is not a list of {epoch: <int>, ...} entries")
    if problems:
        raise ExportError(f"run file {path}: not a run record that can be exported ({'; '.join(problems)}); "
                          "delete it and rerun its job")
    return rec


def _table_of(rec: RunRecord, default_table: str | None) -> str:
    return rec.extra.get("table") or default_table or UNTABLED


def _is_path_like(arg: str) -> bool:
    return arg.endswith(".json") or os.sep in arg or "/" in arg


def select_records(targets: list[str], results_dir: str | Path = "results", default_table: str | None = None,
                   config_tables: dict[str, list[Path]] | None = None) -> list[tuple[Path, RunRecord, str]]:
    """The records ``targets`` name, as (path, record, table) in order, each file once.

    A target that is an existing file is a run file; one that looks like a path (``.json``, a ``/``) but is not a
    file is an error; anything else is a table name: a table of the workflow's config (``config_tables``: name ->
    the run files its report reads that exist, :func:`config_table_runs`) exports those records; any other name,
    every record under ``results_dir`` whose table (its ``table`` field, else ``default_table``) is that name;
    none being an error. No targets: every record under
    ``results_dir``. Raises ExportError naming the cause and the fix."""
    chosen: dict[Path, tuple[Path, RunRecord, str]] = {}
    scanned: list[tuple[Path, RunRecord, str]] | None = None

    def scan() -> list[tuple[Path, RunRecord, str]]:
        nonlocal scanned
        if scanned is None:
            scanned = [(p, rec, _table_of(rec, default_table)) for p in find_records(results_dir)
                       for rec in [_read(p)]]
            if not scanned:
                raise ExportError(f"no run records under {results_dir} (runs/<task>/<backbone>/<method>/<protocol>/"
                                  "seed<k>.json or baselines/<task>/<method>/seed<k>.json); run the workflow first, "
                                  "or pass --results-dir or the run files themselves")
        return scanned

    for arg in targets or [None]:
        if arg is None:
            found = scan()
        elif Path(arg).is_file():
            rec = _read(Path(arg))
            found = [(Path(arg), rec, _table_of(rec, default_table))]
        elif Path(arg).is_dir():
            raise ExportError(f"{arg} is a folder, not a run file or a table name; pass it as --results-dir {arg}")
        elif _is_path_like(arg):
            raise ExportError(f"run file {arg} does not exist; give an existing run record "
                              "(results/runs/.../seed<k>.json) or a table name")
        elif config_tables is not None and arg in config_tables:
            found = [(p, _read(p), arg) for p in config_tables[arg]]
            if not found:
                raise ExportError(f"table {arg!r} has no run record under {results_dir} yet; build it first "
                                  f"(snakemake table_{arg})")
        else:
            everything = scan()
            found = [entry for entry in everything if entry[2] == arg]
            if not found:
                tables = sorted({t for _, _, t in everything})
                untabled = sum(1 for _, rec, _ in everything if not rec.extra.get("table"))
                hint = (f"; {untabled} of them carry no table field: pass --default-table {arg} to count those as "
                        f"{arg}'s" if untabled and default_table is None else "")
                raise ExportError(f"no run record under {results_dir} belongs to table {arg!r} (the records there "
                                  f"are filed under: {', '.join(tables)}){hint}; check the name, or give the run "
                                  "files themselves")
        for path, rec, table in found:
            chosen.setdefault(path.resolve(), (path, rec, table))
    return list(chosen.values())


# ----------------------------------------------------------------------------------------- records -> MLflow data

def flatten(obj, prefix: str = "") -> dict[str, str]:
    """``obj`` (a settings document) as ``{dotted.key: text}``: nested objects are walked (an empty one is
    ``"{}"``), a string stays as it is, any other value (number, bool, null, list) is its JSON text."""
    if isinstance(obj, dict):
        if not obj and prefix:
            return {prefix: "{}"}
        out: dict[str, str] = {}
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if not prefix:
        raise TypeError(f"flatten takes a dict, not a {type(obj).__name__}")
    return {prefix: obj if isinstance(obj, str) else json.dumps(obj, sort_keys=True)}


def _valid_name(name: str, max_key: int) -> bool:
    norm = posixpath.normpath(name)
    return (len(name) <= max_key and bool(_NAME.match(name)) and norm == name and not norm.startswith((".", "/")))


def split_params(flat: dict[str, str], max_key: int = _LIMITS["key"],
                 max_value: int = _LIMITS["param_value"]) -> tuple[dict[str, str], dict[str, str]]:
    """``flat`` split into (params MLflow accepts, the rest): a key longer than ``max_key`` or with characters
    MLflow refuses, or a value longer than ``max_value``, goes to the rest (logged as an artifact, never cut)."""
    params, overflow = {}, {}
    for key, value in flat.items():
        (params if _valid_name(key, max_key) and len(value) <= max_value else overflow)[key] = value
    return params, overflow


def _protocol(rec: RunRecord) -> str:
    return rec.extra.get("protocol") or "clean"  # a record without one is a clean run (orca.report.aggregate)


def run_key(rec: RunRecord) -> str:
    """The run's identity in MLflow: ``<settings_hash>:<task>/<backbone>/<method>/<protocol>/seed<k>`` (the
    hash alone is shared by a cell's seeds, methods and protocols)."""
    return f"{rec.settings_hash}:{rec.task}/{rec.backbone}/{rec.method}/{_protocol(rec)}/seed{rec.seed}"


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _rehearsal(rec: RunRecord) -> bool:
    prov = rec.provenance or {}
    return bool(prov.get("rehearsal")) or (rec.settings or {}).get("mode") == "rehearsal"


def _mark(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def plan_run(path: Path, rec: RunRecord, table: str, limits: dict | None = None) -> PlannedRun:
    """What one record becomes in MLflow (see the module docstring); ExportError naming the file when a history
    field cannot be a metric name."""
    lim = {**_LIMITS, **(limits or {})}
    params, overflow = split_params(flatten(rec.settings or {}), lim["key"], lim["param_value"])
    metrics = []
    history = rec.extra.get("history") or []
    for entry in history:
        for key, value in entry.items():
            number = _number(value)
            if key == "epoch" or number is None:
                continue
            if not _valid_name(key, lim["key"]):
                raise ExportError(f"run file {path}: history field {key!r} cannot be an MLflow metric name "
                                  "(letters, digits, _ - . / and spaces); rename it in the record")
            metrics.append((key, number, entry["epoch"]))
    last = max((h["epoch"] for h in history), default=0)
    for name, value in sorted(rec.scores.items()):
        number = _number(value)
        if number is not None and _valid_name(f"scores.{name}", lim["key"]):
            metrics.append((f"scores.{name}", number, last))
    if _number(rec.wall_time_s) is not None:
        metrics.append(("wall_time_s", float(rec.wall_time_s), last))

    prov = rec.provenance or {}
    protocol = _protocol(rec)
    rehearsal = _rehearsal(rec)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    name = f"{rec.task}/{rec.backbone}/{rec.method}/{protocol}/seed{rec.seed}"
    tags = {RUN_KEY_TAG: run_key(rec), SHA_TAG: sha, "orca.settings_hash": str(rec.settings_hash),
            "orca.table": table, "orca.task": rec.task, "orca.backbone": rec.backbone, "orca.method": rec.method,
            "orca.protocol": protocol, "orca.seed": str(rec.seed), "orca.metric": rec.metric,
            "orca.rehearsal": "true" if rehearsal else "false", "orca.run_file": str(path),
            "mlflow.runName": name}
    optional = {"orca.mode": (rec.settings or {}).get("mode"), "orca.stage": (rec.settings or {}).get("stage"),
                "orca.git_commit": prov.get("git_commit"), "mlflow.source.git.commit": prov.get("git_commit"),
                "orca.git_dirty": prov.get("git_dirty"), "orca.data_sha256": rec.data_sha256,
                "orca.task_file": rec.extra.get("task_file"), "orca.body": rec.extra.get("body"),
                "orca.sizing": rec.extra.get("sizing", prov.get("sizing"))}
    tags.update({k: _mark(v) for k, v in optional.items() if v is not None})
    if overflow:
        tags["orca.params_overflow"] = str(len(overflow))
    tags = {k: v[: lim["tag_value"]] for k, v in tags.items()}
    experiment = f"{EXPERIMENT_PREFIX}{'rehearsal/' if rehearsal else ''}{table}"
    return PlannedRun(path, experiment, run_key(rec), name, sha, params, overflow, metrics, tags)


# --------------------------------------------------------------------------------------------------- MLflow side

def tracking_uri(given: str | None = None) -> str:
    """The tracking URI to use: ``given``, else $MLFLOW_TRACKING_URI, else the file store ./mlruns; a plain path
    becomes its ``file://`` URI."""
    uri = given or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE
    scheme = urlparse(uri).scheme
    if not scheme or (len(scheme) == 1 and os.name == "nt"):
        return Path(uri).expanduser().resolve().as_uri()
    return uri


def _import_mlflow():
    """(MlflowClient, MlflowException, the limits dict); ExportError with the install command when missing."""
    try:
        import mlflow  # noqa: F401
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError as err:
        raise ExportError(f"mlflow is not installed ({err}); install it with: {INSTALL_HINT}") from None
    limits = dict(_LIMITS)
    try:
        from mlflow.utils import validation as v

        limits.update(key=v.MAX_ENTITY_KEY_LENGTH, param_value=v.MAX_PARAM_VAL_LENGTH, tag_value=v.MAX_TAG_VAL_LENGTH,
                      params_per_batch=v.MAX_PARAMS_TAGS_PER_BATCH, metrics_per_batch=v.MAX_METRICS_PER_BATCH)
    except (ImportError, AttributeError):
        pass
    return MlflowClient, MlflowException, limits


@contextlib.contextmanager
def _file_store_allowed(uri: str):
    """A ``file://`` store is what was asked for: MLflow 3.x refuses it unless $MLFLOW_ALLOW_FILE_STORE is true
    (the file store is in maintenance mode), so set that for the export when unset, and restore it after."""
    unset = urlparse(uri).scheme == "file" and "MLFLOW_ALLOW_FILE_STORE" not in os.environ
    if unset:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if unset:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


@contextlib.contextmanager
def _mlflow_notes(err=None):
    """MLflow's FutureWarnings (e.g. the file store's deprecation) shown once each as a ``note:`` line on
    ``err`` (default: stderr) rather than as a warning per call; other warnings pass through."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("default")
            try:
                yield
            finally:
                caught = list(recorded)
    finally:
        seen = set()
        for w in caught:
            if not issubclass(w.category, FutureWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                continue
            lines = str(w.message).strip().splitlines()
            text = lines[0] if lines else w.category.__name__
            if text not in seen:
                seen.add(text)
                print(f"note: {text}", file=err or sys.stderr)


def _experiment_id(client, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(name)
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    return exp.experiment_id


def _existing_runs(client, experiment_id: str) -> dict[str, list]:
    """run key -> the active runs of the experiment that carry it."""
    out: dict[str, list] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        for run in page:
            key = run.data.tags.get(RUN_KEY_TAG)
            if key:
                out.setdefault(key, []).append(run)
        token = getattr(page, "token", None)
        if not token:
            return out


def _log_run(client, experiment_id: str, plan: PlannedRun, limits: dict) -> str:
    """Create the run of ``plan`` and log everything; on any failure the half-made run is deleted. Returns its
    id."""
    from mlflow.entities import Metric, Param

    run = client.create_run(experiment_id, tags=plan.tags, run_name=plan.name)
    run_id = run.info.run_id
    try:
        stamp = int(time.time() * 1000)
        params = [Param(k, v) for k, v in plan.params.items()]
        step = limits["params_per_batch"]
        for i in range(0, len(params), step):
            client.log_batch(run_id, params=params[i:i + step])
        metrics = [Metric(k, v, stamp, s) for k, v, s in plan.metrics]
        step = limits["metrics_per_batch"]
        for i in range(0, len(metrics), step):
            client.log_batch(run_id, metrics=metrics[i:i + step])
        client.log_artifact(run_id, str(plan.path), RECORD_ARTIFACT_DIR)
        if plan.overflow:
            with tempfile.TemporaryDirectory() as tmp:
                extra = Path(tmp) / OVERFLOW_ARTIFACT
                extra.write_text(json.dumps(plan.overflow, indent=1, sort_keys=True))
                client.log_artifact(run_id, str(extra))
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        with contextlib.suppress(Exception):
            client.delete_run(run_id)
        raise
    return run_id


def config_table_runs(configfiles: list[str] | None, results_dir: str | Path) -> dict[str, list[Path]]:
    """Table name -> the run files of that table (``Grid.table_runs``, what its report job reads) that exist under
    ``results_dir``, for every table of the config ``configfiles`` give (orca.plan.config.load_config)."""
    from ..plan.config import ConfigFileError, load_config, planning_config
    from ..plan.grid import Grid

    try:
        grid = Grid(planning_config(load_config(configfiles)))
    except (ConfigFileError, ValueError) as err:
        raise ExportError(str(err)) from None
    return {name: [Path(p) for p in grid.table_runs(name, str(results_dir)) if os.path.exists(p)]
            for name in grid.config["tables"]}


def export_mlflow(targets: list[str] | None = None, tracking: str | None = None,
                  results_dir: str | Path = "results", default_table: str | None = None, log=print,
                  configfiles: list[str] | None = None) -> dict:
    """Export the records ``targets`` name (see :func:`select_records`) to the MLflow tracking store at
    ``tracking`` (see :func:`tracking_uri`), one progress line per run through ``log``.

    Returns ``{"created": n, "replaced": n, "unchanged": n, "runs": {run key: run id}, "uri": uri}``. Raises
    ExportError (before any run is made) for bad input, MLflow missing or a store that cannot be opened."""
    names = [t for t in targets or [] if not Path(t).exists() and not _is_path_like(t)]
    tables = config_table_runs(configfiles, results_dir) if names else None
    selected = select_records(list(targets or []), results_dir, default_table, tables)
    client_cls, mlflow_error, limits = _import_mlflow()
    plans = [plan_run(path, rec, table, limits) for path, rec, table in selected]
    seen: dict[tuple[str, str], Path] = {}
    for plan in plans:
        other = seen.setdefault((plan.experiment, plan.key), plan.path)
        if other != plan.path:
            raise ExportError(f"run files {other} and {plan.path} are the same run ({plan.key}) of {plan.experiment}; "
                              "export one of them")
    uri = tracking_uri(tracking)
    counts = {"created": 0, "replaced": 0, "unchanged": 0, "runs": {}, "uri": uri}
    with _file_store_allowed(uri), _mlflow_notes():
        try:
            client = client_cls(tracking_uri=uri)
            client.search_experiments(max_results=1)  # opens the store: a bad URI fails here, before any run
        except (mlflow_error, OSError, ImportError) as err:
            cause = (str(err).strip().splitlines() or [type(err).__name__])[0]
            fix = ("this store needs the full MLflow package (pip install mlflow), or use a file store "
                   "(--tracking-uri a folder)" if isinstance(err, ImportError) else
                   "check --tracking-uri (a folder, file:///..., sqlite:///... or http://...)")
            raise ExportError(f"tracking URI {uri}: cannot be opened ({cause}); {fix}") from None
        experiments: dict[str, tuple[str, dict]] = {}
        for i, plan in enumerate(plans, 1):
            if plan.experiment not in experiments:
                exp_id = _experiment_id(client, plan.experiment)
                experiments[plan.experiment] = (exp_id, _existing_runs(client, exp_id))
            exp_id, existing = experiments[plan.experiment]
            old = existing.get(plan.key, [])
            same = [r for r in old if r.data.tags.get(SHA_TAG) == plan.sha256 and r.info.status == "FINISHED"]
            if len(old) == 1 and same:
                action, run_id = "unchanged", same[0].info.run_id
            else:
                for run in old:
                    client.delete_run(run.info.run_id)
                run_id = _log_run(client, exp_id, plan, limits)
                action = "replaced" if old else "created"
                existing[plan.key] = [client.get_run(run_id)]
            counts[action] += 1
            counts["runs"][plan.key] = run_id
            log(f"[{i}/{len(plans)}] {action:9s} {plan.experiment}  {plan.name}  (run {run_id})")
    log(f"exported {len(plans)} run(s) to {uri}: {counts['created']} created, {counts['replaced']} replaced, "
        f"{counts['unchanged']} unchanged")
    return counts
