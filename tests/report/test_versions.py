"""Which rows came from another code version (orca.report.versions), and the note build_report prints."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from orca.report import build_report
from orca.report.versions import (MAX_NAMED, code_version_of, stage_of, version_groups, version_note,
                                  version_note_latex, with_latex_note, with_markdown_note)


def record(task="iris", method="none", seed=0, *, commit="c0ffee", code=None, backbone="minilm-l6", baseline=None):
    """A run record as orca.stages.records writes it (the fields the note reads)."""
    settings = {"refine": {"epochs": 1}}
    if code is not None:
        settings["code"] = code
    if baseline is not None:
        settings["baseline"] = baseline
    return {"task": task, "backbone": backbone, "method": method, "seed": seed, "settings": settings,
            "provenance": {"git_commit": commit, "git_dirty": False}}


def files(records):
    return [f"results/runs/{r['task']}/{r['backbone']}/{r['method']}/seed{r['seed']}.json" for r in records]


def test_the_code_hash_wins_over_the_commit():
    assert code_version_of(record(code="1df9deccf41a")) == "1df9deccf41a"
    assert code_version_of(record(commit="abc123")) == "abc123"
    assert code_version_of({"task": "iris", "provenance": {"git_commit": None}}) is None
    assert code_version_of({"task": "iris", "settings": None}) is None


def test_a_baseline_is_told_from_a_refine_run():
    assert stage_of(record()) == "refine"
    assert stage_of(record(backbone="-", method="xgboost")) == "baseline"
    assert stage_of(record(method="xgboost", baseline="xgboost")) == "baseline"
    assert stage_of({"task": "iris", "backbone": "x"}, "results/baselines/iris/xgboost/seed0.json") == "baseline"


def test_one_version_gives_no_note():
    recs = [record(seed=s, code="aaa") for s in range(3)]
    assert version_note(recs, files(recs)) is None
    assert version_note([], []) is None
    assert version_note_latex(recs, files(recs)) is None


def test_each_stage_hashes_its_own_code_so_refine_and_baseline_hashes_do_not_mix():
    recs = [record(seed=s, code="aaa") for s in range(3)]
    recs += [record(method="xgboost", seed=s, backbone="-", code="bbb") for s in range(3)]
    assert version_note(recs, files(recs)) is None


def test_the_majority_is_the_tables_version_and_the_others_are_named():
    recs = [record(task=t, method=m, seed=s, code="aaa") for t in ("iris", "wine") for m in ("none", "l2")
            for s in range(3)]
    recs[4]["settings"]["code"] = "bbb"  # iris/l2/1
    recs[10]["settings"]["code"] = "bbb"  # wine/l2/1
    recs[6]["settings"]["code"] = "ccc"  # wine/none/0
    note = version_note(recs, files(recs))
    assert note == ("Rows from 3 code versions: code `aaa` (this table's, 9 runs), "
                    "code `bbb` (2 runs: iris/l2/1, wine/l2/1), code `ccc` (1 run: wine/none/0).")


def test_commits_stand_in_for_records_without_a_code_hash():
    recs = [record(seed=s, commit="0123456789abcdef0123") for s in range(3)] + [record(seed=3, commit="fedcba98")]
    note = version_note(recs, files(recs))
    assert note == ("Rows from 2 code versions: commit `0123456789ab` (this table's, 3 runs), "
                    "commit `fedcba98` (1 run: iris/none/3).")
    # an old record (commit only) beside new ones (code hash): not known to be the same code
    recs = [record(seed=s, code="aaa") for s in range(3)] + [record(seed=3)]
    assert "commit `c0ffee` (1 run: iris/none/3)" in version_note(recs, files(recs))


def test_at_most_ten_runs_are_named():
    recs = [record(seed=s, code="aaa") for s in range(20)] + [record(seed=100 + s, code="bbb") for s in range(13)]
    note = version_note(recs, files(recs))
    named = ", ".join(f"iris/none/{100 + s}" for s in range(MAX_NAMED))
    assert f"code `bbb` (13 runs: {named} and 3 more)" in note
    assert "iris/none/110" not in note


def test_seeds_are_listed_in_numeric_order():
    recs = [record(seed=s, code="aaa") for s in range(5)] + [record(seed=s, code="bbb") for s in (10, 2)]
    assert "(2 runs: iris/none/2, iris/none/10)" in version_note(recs, files(recs))


def test_ties_are_broken_by_name_and_a_record_without_names_is_shown_by_its_file():
    recs = [record(code="bbb"), {"settings": {"code": "aaa"}}]
    note = version_note(recs, ["results/runs/a.json", "results/runs/b.json"])
    assert note == "Rows from 2 code versions: code `aaa` (this table's, 1 run), code `bbb` (1 run: iris/none/0)."
    recs = [record(code="aaa"), {"settings": {"code": "bbb"}}]
    assert "code `bbb` (1 run: `results/runs/b.json`)" in version_note(recs, ["results/runs/a.json",
                                                                                 "results/runs/b.json"])


def test_stages_are_named_when_more_than_one_mixes():
    recs = [record(seed=s, code="r1") for s in range(3)] + [record(seed=3, code="r2")]
    recs += [record(method="xgboost", backbone="-", seed=s, code="b1") for s in range(2)]
    recs += [record(method="xgboost", backbone="-", seed=2, code="b2")]
    groups = version_groups(recs, files(recs))
    assert list(groups) == ["baseline", "refine"]
    assert version_note(recs, files(recs)) == (
        "Baseline rows from 2 code versions: code `b1` (this table's, 2 runs), code `b2` (1 run: iris/xgboost/2). "
        "Refine rows from 2 code versions: code `r1` (this table's, 3 runs), code `r2` (1 run: iris/none/3).")


def test_records_and_files_must_pair_up():
    with pytest.raises(ValueError, match="2 records but 1 run files"):
        version_note([record(), record(seed=1)], ["a.json"])


def test_the_latex_note_is_escaped():
    recs = [record(task="nb360_ecg", seed=s, code="aaa") for s in range(2)] + [record(task="nb360_ecg", code="bbb")]
    tex = version_note_latex(recs, files(recs))
    assert tex == (r"Rows from 2 code versions: code \texttt{aaa} (this table's, 2 runs), "
                   r"code \texttt{bbb} (1 run: nb360\_ecg/none/0).")


def test_the_note_goes_after_the_provenance_line_and_into_the_caption():
    md = "# t\n\n| a |\n\nScore: x.\nProvenance: commit(s) abc.\n\n## Across tasks\n"
    assert with_markdown_note(md, "NOTE") == "# t\n\n| a |\n\nScore: x.\nProvenance: commit(s) abc.\n\nNOTE\n\n## Across tasks\n"
    assert with_markdown_note("# t\n", "NOTE") == "# t\n\nNOTE\n"
    assert with_markdown_note(md, None) == md
    tex = "\\begin{table}\n\\caption{Some caption.}\n\\label{x}\n"
    assert with_latex_note(tex, "NOTE") == "\\begin{table}\n\\caption{Some caption. NOTE}\n\\label{x}\n"
    assert with_latex_note("\\begin{tabular}\n", "NOTE") == "% NOTE\n\\begin{tabular}\n"
    assert with_latex_note(tex, None) == tex


def _report(tmp_path: Path) -> list[Path]:
    """Run files as the stages write them (fields as in tests/report/fabricate.py): two tasks, two aligners and
    xgboost, two seeds."""
    paths = []
    for task in ("iris", "wine"):
        for method in ("none", "l2", "xgboost"):
            for seed in (0, 1):
                base = method == "xgboost"
                rel = (f"results/baselines/{task}/{method}/seed{seed}.json" if base
                       else f"results/runs/{task}/minilm-l6/{method}/clean/seed{seed}.json")
                value = 0.2 + 0.01 * seed + (0.03 if method == "l2" else 0.0)
                run = {"task": task, "task_title": f"{task} title", "backbone": "-" if base else "minilm-l6",
                       "method": method, "seed": seed, "protocol": "clean", "metric": "one_minus_auroc",
                       "metric_display": "1 - AUROC", "higher_is_better": False,
                       "scores": {"test_at_best_val": value, "test_last_epoch": value, "best_val": value,
                                  "best_epoch": 1},
                       "wall_time_s": 1.0, "settings_hash": "fab0", "settings": {},
                       "provenance": {"git_commit": "0123abcd", "git_dirty": False, "run_file": rel}}
                path = tmp_path / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(run))
                paths.append(path)
    return paths


def _build(tmp_path, paths):
    out = build_report(paths, "tiny", tmp_path / "results", tmp_path / "reports", None)
    return out["md"].read_text(), out["tex"].read_text(), out["html"].read_text()


def test_build_report_prints_no_note_when_the_runs_share_a_version(tmp_path):
    paths = _report(tmp_path)
    md, tex, _ = _build(tmp_path, paths)
    assert "code versions" not in md and "code versions" not in tex


def test_build_report_names_the_runs_of_another_code_version(tmp_path):
    paths = _report(tmp_path)
    refine = [p for p in paths if "runs" in p.relative_to(tmp_path).parts]
    for p in paths:
        run = json.loads(p.read_text())
        run["settings"] = {"code": "bbbbbbbbbbbb" if p == refine[0] else "aaaaaaaaaaaa"}
        p.write_text(json.dumps(run))
    odd = json.loads(refine[0].read_text())
    label = f"{odd['task']}/{odd['method']}/{odd['seed']}"
    md, tex, html = _build(tmp_path, paths)
    expected = f"code `bbbbbbbbbbbb` (1 run: {label})"
    assert expected in md
    lines = md.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("Provenance:"))
    assert lines[at + 2].startswith("Rows from 2 code versions: code `aaaaaaaaaaaa` (this table's")
    assert r"code \texttt{bbbbbbbbbbbb} (1 run:" in next(line for line in tex.split("\n")
                                                          if line.startswith(r"\caption{"))
    assert "bbbbbbbbbbbb" in html
