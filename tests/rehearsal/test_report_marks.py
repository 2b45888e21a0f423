"""A report built in a rehearsal carries the marks in CSV, Markdown, LaTeX and figure title."""
import json

import pandas as pd
import pytest

from orca.report import build_report


def _run(path, method, value, rehearsal=False):
    rec = {"table": "t", "task": "iris", "task_title": "Iris", "backbone": "minilm-l6", "method": method, "seed": 0,
           "metric": "error", "metric_display": "error", "higher_is_better": False,
           "settings_hash": "abc", "provenance": {"rehearsal": True} if rehearsal else {}, "scores": {"test_at_best_val": value, "test_last_epoch": value, "best_epoch": 1}}
    path.write_text(json.dumps(rec))
    return path


def test_report_marked_in_a_rehearsal(tmp_path, monkeypatch):
    runs = [_run(tmp_path / "a.json", "none", 0.2, True), _run(tmp_path / "b.json", "l2", 0.1, True)]
    out = build_report(runs, "t", tmp_path / "res", tmp_path / "rep", None, rehearsal=True)
    assert pd.read_csv(out["csv"])["rehearsal"].all()
    assert "REHEARSAL" in out["md"].read_text().splitlines()[0]
    assert "REHEARSAL" in out["tex"].read_text()
    runs = [_run(tmp_path / "a.json", "none", 0.2), _run(tmp_path / "b.json", "l2", 0.1)]
    out = build_report(runs, "t", tmp_path / "res2", tmp_path / "rep2", None)
    assert "rehearsal" not in pd.read_csv(out["csv"]).columns and "REHEARSAL" not in out["md"].read_text()


def test_rehearsal_and_real_runs_are_never_mixed(tmp_path, monkeypatch):
    real = _run(tmp_path / "a.json", "none", 0.2)
    fake = _run(tmp_path / "b.json", "l2", 0.1, rehearsal=True)
    with pytest.raises(ValueError, match="is a rehearsal run"):
        build_report([real, fake], "t", tmp_path / "res", tmp_path / "rep", None)
    with pytest.raises(ValueError, match="is not a rehearsal run"):
        build_report([real, fake], "t", tmp_path / "res", tmp_path / "rep", None, rehearsal=True)
    assert not (tmp_path / "res").exists()
