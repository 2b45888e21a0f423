"""orca export mlflow (orca/export): run records -> MLflow runs in a real file store, read back with MlflowClient.

The records are made the way the stages make them: a job's settings document from orca.spec.jobs (iris and wine
task files) and orca.stages.records.build_record / write_record, at the workflow's paths (orca.plan.grid)."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from orca.export.cli import add_export_parser, run_export
from orca.export.mlflow_runs import RUN_KEY_TAG, flatten, run_key
from orca.plan.grid import BASELINE_PATH, RUN_PATH
from orca.spec.tasks import load_task
from orca.stages.records import build_record, read_record, write_record
from tests.stage_jobs import job_for

REPO = Path(__file__).resolve().parents[2]
TASKS = {name: REPO / "benchmarks" / "offline" / f"{name}.yaml" for name in ("iris", "wine")}
METRIC = SimpleNamespace(name="one_minus_auroc", display="1-AUROC", higher_is_better=False)
DATA = SimpleNamespace(x_train=[0] * 100, x_val=[0] * 10, x_test=[0] * 15, checksum=lambda: "d" * 64)


@pytest.fixture(scope="module")
def tasks():
    return {name: load_task(path) for name, path in TASKS.items()}


def history(method: str, seed: int, epochs: int = 3) -> list[dict]:
    shift = 0.01 * seed + (0.002 if method == "l2" else 0.0)
    return [{"epoch": e, "train_loss": round(1.0 / e + shift, 6), "val": round(0.4 - 0.1 * e + shift, 6)}
            for e in range(1, epochs + 1)]


def make_record(results: Path, task, method: str, seed: int, protocol: str = "clean", table: str | None = "tiny",
                mode: str = "real", backbone: str = "minilm-l6", test_score: float | None = None) -> Path:
    """One run record as the refine stage (or, for xgboost, the baseline stage) writes it; its path."""
    if method == "xgboost":
        job = job_for(task, "baseline", method=method, seed=seed, mode=mode)
        rel = BASELINE_PATH.format(task=task.name, method=method, seed=seed)
        extra = {}
    else:
        job = job_for(task, "refine", backbone, method, seed, protocol, mode)
        rel = RUN_PATH.format(task=task.name, backbone=backbone, method=method, protocol=protocol, seed=seed)
        extra = {"protocol": protocol, "history": history(method, seed), "body": "pretrained", "embedder": None}
    if table is not None:
        extra["table"] = table
    value = test_score if test_score is not None else 0.1 + 0.01 * seed
    scores = {"test_at_best_val": value, "test_last_epoch": value + 0.01, "best_val": 0.1,
              "best_epoch": 3 if method != "xgboost" else None}
    path = results / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_record(build_record(job, METRIC, scores, DATA, time.time() - 2.0, path, **extra), path)
    return path


@pytest.fixture
def results(tmp_path, tasks):
    """results/ with 7 records: table 'tiny' = iris x {l2, none} x seeds {0, 1} (clean) + iris xgboost seed 0;
    table 'other' = wine l2 seed 0; one record without a table field (iris l2, protocol original, seed 0)."""
    root = tmp_path / "results"
    for method in ("l2", "none"):
        for seed in (0, 1):
            make_record(root, tasks["iris"], method, seed)
    make_record(root, tasks["iris"], "xgboost", 0)
    make_record(root, tasks["wine"], "l2", 0, table="other")
    make_record(root, tasks["iris"], "l2", 0, protocol="original", table=None)
    return root


@pytest.fixture
def store(tmp_path, monkeypatch):
    """(tracking URI of a file store under tmp_path, an MlflowClient reading it)."""
    mlflow_tracking = pytest.importorskip("mlflow.tracking", reason="pip install 'orca-bench[mlflow]'")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = (tmp_path / "mlruns").as_uri()

    def client():
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 refuses a file store without it
        try:
            return mlflow_tracking.MlflowClient(tracking_uri=uri)
        finally:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    return uri, client


def export(*argv: str) -> int:
    """``orca export mlflow ARGV`` through the export parser; its exit status."""
    parser = argparse.ArgumentParser(prog="orca")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    return run_export(parser.parse_args(["export", "mlflow", *argv]))


def runs_by_experiment(client) -> dict[str, list]:
    """experiment name -> its active runs (every experiment of the store but MLflow's own Default)."""
    out = {}
    for exp in client.search_experiments():
        if exp.name != "Default":
            out[exp.name] = list(client.search_runs([exp.experiment_id], max_results=1000))
    return out


def the_run(client, experiment: str, key: str):
    found = [r for r in runs_by_experiment(client)[experiment] if r.data.tags[RUN_KEY_TAG] == key]
    assert len(found) == 1, f"{len(found)} runs with key {key} in {experiment}"
    return found[0]


def leaves(obj, prefix=""):
    """The test's own flattening: (dotted key, leaf) pairs of a nested dict."""
    for key, value in obj.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            yield from leaves(value, dotted)
        else:
            yield dotted, value


def test_every_record_becomes_one_run_with_its_settings_history_tags_and_file(results, store, tmp_path, capsys):
    uri, client = store
    assert export("--tracking-uri", uri, "--results-dir", str(results)) == 0
    runs = runs_by_experiment(client())
    assert {name: len(r) for name, r in runs.items()} == {"orca-bench/tiny": 5, "orca-bench/other": 1,
                                                          "orca-bench/untabled": 1}
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(progress) == 7 and progress[-1].startswith("[7/7] created")

    path = results / RUN_PATH.format(task="iris", backbone="minilm-l6", method="l2", protocol="clean", seed=1)
    rec = read_record(path)
    run = the_run(client(), "orca-bench/tiny", f"{rec.settings_hash}:iris/minilm-l6/l2/clean/seed1")
    params = run.data.params
    # the format, spelled out: strings as they are, other values as JSON, nested keys dotted
    assert params["stage"] == "refine" and params["mode"] == "real"
    assert params["task.refine.lr"] == "0.0003" and params["task.refine.epochs"] == "6"
    assert params["task.refine.betas"] == "[0.9, 0.98]" and params["task.embedder.image_size"] == "null"
    assert params["task.body.pretrained"] == "true" and params["task.data.args.offline_copy"] == "sklearn:iris"
    expected = {k: v if isinstance(v, str) else json.dumps(v) for k, v in leaves(rec.settings)}
    assert params == expected

    c = client()
    for field in ("train_loss", "val"):
        got = [(m.step, m.value) for m in c.get_metric_history(run.info.run_id, field)]
        assert sorted(got) == [(h["epoch"], h[field]) for h in rec.extra["history"]]
    assert run.data.metrics["scores.test_at_best_val"] == pytest.approx(0.11)
    assert run.data.metrics["scores.best_epoch"] == 3
    assert [m.step for m in c.get_metric_history(run.info.run_id, "scores.test_at_best_val")] == [3]

    tags = run.data.tags
    assert tags["orca.settings_hash"] == rec.settings_hash and tags["orca.git_commit"] == rec.provenance["git_commit"]
    assert (tags["orca.task"], tags["orca.backbone"], tags["orca.method"], tags["orca.protocol"],
            tags["orca.seed"]) == ("iris", "minilm-l6", "l2", "clean", "1")
    assert tags["orca.table"] == "tiny" and tags["orca.rehearsal"] == "false" and tags["orca.mode"] == "real"
    assert tags["mlflow.runName"] == "iris/minilm-l6/l2/clean/seed1"

    assert [a.path for a in c.list_artifacts(run.info.run_id, "record")] == ["record/seed1.json"]
    copy = c.download_artifacts(run.info.run_id, "record/seed1.json", str(tmp_path))
    assert Path(copy).read_bytes() == path.read_bytes()

    baseline = the_run(c, "orca-bench/tiny", run_key(read_record(results / "baselines/iris/xgboost/seed0.json")))
    assert "scores.best_epoch" not in baseline.data.metrics  # None in a baseline's record: not a number
    assert c.get_metric_history(baseline.info.run_id, "val") == []
    assert baseline.data.params["stage"] == "baseline" and baseline.data.tags["orca.backbone"] == "-"


def test_the_seeds_methods_and_protocols_of_one_hash_are_distinct_runs(results, store):
    uri, client = store
    assert export("--tracking-uri", uri, "--results-dir", str(results), "tiny") == 0
    refine = [r for r in runs_by_experiment(client())["orca-bench/tiny"] if r.data.tags["orca.method"] != "xgboost"]
    assert len({r.data.tags["orca.settings_hash"] for r in refine}) == 1  # l2 and none, seeds 0 and 1: one hash
    assert len({r.data.tags[RUN_KEY_TAG] for r in refine}) == 4


def test_exporting_twice_adds_no_run_and_a_changed_record_replaces_its_run(results, store, tasks, capsys):
    uri, client = store
    args = ("--tracking-uri", uri, "--results-dir", str(results))
    assert export(*args) == 0
    first = {name: sorted(r.info.run_id for r in rs) for name, rs in runs_by_experiment(client()).items()}
    assert export(*args) == 0
    assert {name: sorted(r.info.run_id for r in rs) for name, rs in runs_by_experiment(client()).items()} == first
    assert "0 created, 0 replaced, 7 unchanged" in capsys.readouterr().out

    changed = make_record(results, tasks["wine"], "l2", 0, table="other", test_score=0.42)
    assert export(*args) == 0
    assert "0 created, 1 replaced, 6 unchanged" in capsys.readouterr().out
    runs = runs_by_experiment(client())
    assert {name: len(r) for name, r in runs.items()} == {name: len(r) for name, r in first.items()}
    (run,) = runs["orca-bench/other"]
    assert run.info.run_id not in first["orca-bench/other"]
    assert run.data.metrics["scores.test_at_best_val"] == 0.42
    assert run.data.tags["orca.run_file"] == str(changed)


def test_a_table_name_selects_only_its_runs(results, store):
    uri, client = store
    assert export("--tracking-uri", uri, "--results-dir", str(results), "other") == 0
    runs = runs_by_experiment(client())
    assert list(runs) == ["orca-bench/other"] and len(runs["orca-bench/other"]) == 1
    assert runs["orca-bench/other"][0].data.tags["orca.task"] == "wine"

    # a record without a table field counts as --default-table's (as `orca report --table` counts it)
    assert export("--tracking-uri", uri, "--results-dir", str(results), "--default-table", "tiny", "tiny") == 0
    tiny = runs_by_experiment(client())["orca-bench/tiny"]
    assert len(tiny) == 6 and {r.data.tags["orca.protocol"] for r in tiny} == {"clean", "original"}


def test_a_run_file_exports_that_run_only(results, store):
    uri, client = store
    path = results / RUN_PATH.format(task="iris", backbone="minilm-l6", method="none", protocol="clean", seed=0)
    assert export("--tracking-uri", uri, str(path), str(path)) == 0  # named twice: exported once
    runs = runs_by_experiment(client())
    assert list(runs) == ["orca-bench/tiny"] and len(runs["orca-bench/tiny"]) == 1
    assert runs["orca-bench/tiny"][0].data.tags["orca.method"] == "none"


def test_rehearsal_records_get_their_own_experiment_and_marks(tmp_path, tasks, store):
    uri, client = store
    path = make_record(tmp_path / "results", tasks["iris"], "l2", 0, mode="rehearsal")
    assert export("--tracking-uri", uri, str(path)) == 0
    (run,) = runs_by_experiment(client())["orca-bench/rehearsal/tiny"]
    assert run.data.tags["orca.rehearsal"] == "true" and run.data.params["mode"] == "rehearsal"


def test_over_long_params_are_logged_as_an_artifact_not_cut(tmp_path, tasks, store):
    uri, client = store
    path = make_record(tmp_path / "results", tasks["iris"], "l2", 0)
    obj = json.loads(path.read_text())
    long_key = "k" * 300
    obj["settings"]["notes"] = {"long": "x" * 7000, long_key: 1}
    path.write_text(json.dumps(obj))
    assert export("--tracking-uri", uri, str(path)) == 0
    c = client()
    (run,) = runs_by_experiment(c)["orca-bench/tiny"]
    assert "notes.long" not in run.data.params and f"notes.{long_key}" not in run.data.params
    assert run.data.params["task.refine.lr"] == "0.0003" and run.data.tags["orca.params_overflow"] == "2"
    saved = json.loads(Path(c.download_artifacts(run.info.run_id, "params_overflow.json", str(tmp_path))).read_text())
    assert saved == {"notes.long": "x" * 7000, f"notes.{long_key}": "1"}


def test_the_file_store_switch_is_restored(results, store):
    uri, _ = store
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ
    assert export("--tracking-uri", uri, "--results-dir", str(results), "other") == 0
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ


def exported_runs(tmp_path) -> int:
    """Run folders in the file store under tmp_path/mlruns (0 when it was never made)."""
    root = tmp_path / "mlruns"
    return sum(1 for meta in root.glob("*/*/meta.yaml")) if root.is_dir() else 0


@pytest.mark.parametrize("case, cause", [
    ("missing file", "run file .*nope/seed0.json does not exist"),
    ("unknown table", "no run record under .* belongs to table 'nosuch'.*tiny"),
    ("missing results", "results folder .*absent does not exist; .*--results-dir"),
    ("broken record", "not valid JSON"),
    ("bad history", "history is not a list"),
    ("bad tracking uri", "tracking URI bogus://x: cannot be opened"),
])
def test_bad_input_exits_2_naming_the_cause_and_exports_nothing(results, store, tmp_path, capsys, case, cause):
    uri, _ = store
    good = str(results / "baselines/iris/xgboost/seed0.json")
    argv = {"missing file": [good, str(tmp_path / "nope/seed0.json")],
            "unknown table": ["--results-dir", str(results), "nosuch"],
            "missing results": ["--results-dir", str(tmp_path / "absent")],
            "broken record": ["--results-dir", str(results)],
            "bad history": ["--results-dir", str(results)],
            "bad tracking uri": [good]}[case]
    if case == "broken record":
        (results / "runs/iris/minilm-l6/none/clean/seed1.json").write_text('{"task": ')
    if case == "bad history":
        path = results / "runs/iris/minilm-l6/none/clean/seed1.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "history": [{"train_loss": 1.0}]}))
    tracking = "bogus://x" if case == "bad tracking uri" else uri
    assert export("--tracking-uri", tracking, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("orca export mlflow: error: ")
    assert re.search(cause, err), err
    assert exported_runs(tmp_path) == 0


def test_without_mlflow_the_error_says_how_to_install_it(results, tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    assert export("--tracking-uri", (tmp_path / "mlruns").as_uri(), "--results-dir", str(results)) == 2
    err = capsys.readouterr().err
    assert "mlflow is not installed" in err and "pip install 'orca-bench[mlflow]'" in err
    assert exported_runs(tmp_path) == 0


def test_flatten_spells_values_as_documented():
    assert flatten({"a": {"b": 1, "c": "x", "d": None, "e": [1, 2], "f": {}, "g": False}}) == {
        "a.b": "1", "a.c": "x", "a.d": "null", "a.e": "[1, 2]", "a.f": "{}", "a.g": "false"}


def test_mlflow_future_warnings_become_one_note_each(capsys):
    import warnings

    from orca.export.mlflow_runs import _mlflow_notes

    with _mlflow_notes():
        for _ in range(3):
            warnings.warn("The filesystem tracking backend is deprecated\nmore text", FutureWarning, stacklevel=1)
    assert capsys.readouterr().err.splitlines() == ["note: The filesystem tracking backend is deprecated"]


def test_a_table_of_the_config_exports_the_run_files_its_report_reads(results, store, tmp_path):
    """A table name the workflow's config defines selects that table's planned run files (Grid.table_runs), not
    the records' table field: a cell shared by two tables is exported under each."""
    uri, client = store
    config = tmp_path / "mine.yaml"
    config.write_text(json.dumps({"targets": ["mine"], "tables": {"mine": {
        "tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["l2"], "seeds": [0, 1]}}}))
    assert export("--tracking-uri", uri, "--results-dir", str(results), "--configfile", str(config), "mine") == 0
    runs = runs_by_experiment(client())
    assert list(runs) == ["orca-bench/mine"]
    assert sorted((r.data.tags["orca.method"], r.data.tags["orca.seed"]) for r in runs["orca-bench/mine"]) == [
        ("l2", "0"), ("l2", "1")]
    empty = tmp_path / "empty-results"
    empty.mkdir()
    assert export("--tracking-uri", uri, "--results-dir", str(empty), "--configfile", str(config), "mine") == 2
