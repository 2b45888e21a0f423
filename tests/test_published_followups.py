"""The follow-up papers' published numbers beside ours (config/followups.yaml, benchmarks/published/README.md).

A follow-up paper's rows live in published.csv under a table of its own (``RECRAFT_NB360``, ...), naming each task
as ORCA's table does; a report that shows such a table (``join_published(published_tables=...)``) puts them beside
ORCA's: our run of the follow-up's method gets that paper's own number, the paper's other rows (its ORCA re-run,
its baselines) are published-only rows. The paper tables, which name no follow-up table, are unchanged.
"""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orca.report import build_report
from orca.report.aggregate import (DEFAULT_METHOD_MAP, FOLLOWUP_METHOD_MAP, METRIC_TO_PUBLISHED, join_published,
                                   load_published, load_runs, summarise)

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = REPO / "benchmarks" / "published" / "published.csv"
README = REPO / "benchmarks" / "published" / "README.md"

# the tables of published.csv that are not a follow-up paper's: ORCA's own (paper, project page, PDEBench repo), the
# flagged aggregator values
ORCA_TABLES = {"NB360_main", "NB360_summary", "PDEBench_main", "PDEBench_reproduction_by_PDEBench_repo",
               "PDEBench_summary", "OpenML_TabPFN30_summary", "OpenML_LIFT_summary",
               "thirdparty_aggregator_unverified"}
# follow-up table -> the ORCA table whose task names (and metrics) its rows reuse
FOLLOWUP_TABLES = {"RECRAFT_NB360": "NB360_main", "RECRAFT_PDEBench": "PDEBench_main"}
AGGREGATORS = ("paperswithcode", "wizwand", "pith.science", "scholarfeed", "catalyzex", "alphaxiv", "semanticscholar")

SYNTHETIC = """table,task,method,metric,value,higher_is_better,source,notes
NB360_main,ECG,ORCA,1-F1 score,0.28,no,test,
NB360_main,ECG,DASH,1-F1 score,0.32,no,test,
NB360_main,ECG,FPT,1-F1 score,0.50,no,test,
NB360_main,Darcy Flow,ORCA,relative l2,7.28E-3,no,test,
RECRAFT_NB360,ECG,RECRAFT,1-F1 score,0.25,no,"test, p. 7 Table 1",
RECRAFT_NB360,ECG,ORCA,1-F1 score,0.29,no,"test, p. 7 Table 1",ORCA as the follow-up reports it
RECRAFT_NB360,ECG,PaRe,1-F1 score,0.27,no,"test, p. 7 Table 1",
RECRAFT_NB360,Darcy Flow,RECRAFT,relative l2,7.0E-3,no,"test, p. 7 Table 1",
RECRAFT_PDEBench,"Advection (1D, beta=0.4)",RECRAFT,nRMSE,9.0E-3,no,"test, p. 8 Table 2",
"""
FOLLOWUPS = ["RECRAFT_NB360", "RECRAFT_PDEBench"]
# method -> ECG 1 - F1 per seed
SCORES = {"none": [0.30, 0.31, 0.29], "otdd-exact": [0.27, 0.28, 0.26], "recraft": [0.24, 0.26, 0.25],
          "frozen-body": [0.45, 0.47, 0.46], "lora": [0.33, 0.32, 0.34]}


def _run(root: Path, method: str, seed: int, value: float, table: str = "followups") -> Path:
    rel = f"results/runs/ecg/roberta-base/{method}/clean/seed{seed}.json"
    run = {"table": table, "task": "ecg", "task_title": "ECG", "suite": "nb360", "backbone": "roberta-base",
           "method": method, "seed": seed, "protocol": "clean", "metric": "one_minus_macro_f1",
           "metric_display": "1 - F1 score", "higher_is_better": False,
           "scores": {"test_at_best_val": value, "test_last_epoch": value, "best_val": value, "best_epoch": 2},
           "wall_time_s": 1.0, "settings_hash": f"h-{method}",
           "published_key": {"table": "NB360_main", "task": "ECG"},  # the task file's first reference (ORCA's)
           "provenance": {"git_commit": "abc123", "git_dirty": False, "run_file": rel}}
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run))
    return path


def _runs(root: Path, methods=tuple(SCORES)) -> list[Path]:
    return [_run(root, m, s, v) for m in methods for s, v in enumerate(SCORES[m])]


@pytest.fixture
def pub(tmp_path) -> pd.DataFrame:
    path = tmp_path / "published.csv"
    path.write_text(SYNTHETIC)
    return load_published(path)


def test_without_follow_up_tables_the_join_is_the_paper_tables(tmp_path, pub):
    """Rows of follow-up tables in the CSV change nothing for a table that does not show them."""
    ours = summarise(load_runs(_runs(tmp_path)))
    orca_only = pub[~pub.table.isin(FOLLOWUPS)].reset_index(drop=True)
    plain = join_published(ours, orca_only)
    pd.testing.assert_frame_equal(join_published(ours, pub), plain)
    pd.testing.assert_frame_equal(join_published(ours, pub, published_tables=[]), plain)
    assert set(plain.published_table.dropna()) == {"NB360_main"}
    ran = plain[plain.row_kind == "run"].set_index("method")
    assert ran.loc["recraft", "published_method"] is None and np.isnan(ran.loc["recraft", "published_value"])


def test_follow_up_rows_join_beside_ours(tmp_path, pub):
    ours = summarise(load_runs(_runs(tmp_path)))
    summ = join_published(ours, pub, published_tables=FOLLOWUPS)
    ran = summ[summ.row_kind == "run"].set_index("method")
    # our recraft <- RECRAFT's own row of its own table
    rec = ran.loc["recraft"]
    assert (rec.published_table, rec.published_method, rec.published_value) == ("RECRAFT_NB360", "RECRAFT", 0.25)
    assert rec.diff_vs_published == pytest.approx(np.mean(SCORES["recraft"]) - 0.25)
    # otdd-exact and frozen-body <- ORCA's own paper, as in the paper tables (not RECRAFT's re-run of ORCA)
    assert (ran.loc["otdd-exact", "published_table"], ran.loc["otdd-exact", "published_value"]) == ("NB360_main", 0.28)
    assert ran.loc["otdd-exact", "diff_vs_published"] == pytest.approx(np.mean(SCORES["otdd-exact"]) - 0.28)
    assert ran.loc["frozen-body", "published_value"] == 0.50
    for m in ("none", "lora"):  # no paper prints these methods' numbers
        assert np.isnan(ran.loc[m, "published_value"]) and ran.loc[m, "published_note"] == ""
    # every other row of both papers for this task, each on its own line; RECRAFT's ORCA labelled as its table's
    only = summ[summ.row_kind == "published_only"].set_index("method")
    assert set(only.index) == {"DASH", "ORCA (RECRAFT_NB360)", "PaRe"}
    assert only.loc["ORCA (RECRAFT_NB360)", "published_value"] == 0.29
    assert only.loc["ORCA (RECRAFT_NB360)", "published_method"] == "ORCA"
    assert only.loc["PaRe", "published_table"] == "RECRAFT_NB360" and only.loc["DASH", "published_table"] == "NB360_main"
    assert set(only.task) == {"ecg"} and (only.metric_display == "1 - F1 score").all()
    # tasks no run refers to (Darcy Flow, Advection) are not pulled in
    assert set(summ.published_task.dropna()) == {"ECG"}


def test_follow_up_method_not_run_yet_shows_the_papers_row(tmp_path, pub):
    ours = summarise(load_runs(_runs(tmp_path, ("none", "otdd-exact"))))
    summ = join_published(ours, pub, published_tables=FOLLOWUPS)
    only = summ[summ.row_kind == "published_only"].set_index("method")
    assert only.loc["RECRAFT", "published_value"] == 0.25 and np.isnan(only.loc["RECRAFT", "mean"])
    assert {"FPT", "DASH", "ORCA (RECRAFT_NB360)", "PaRe", "RECRAFT"} == set(only.index)


def test_follow_up_row_in_another_unit_is_not_compared(tmp_path, pub):
    pub = pub.copy()
    pub.loc[(pub.table == "RECRAFT_NB360") & (pub.method == "RECRAFT"), "metric"] = "F1 score"
    summ = join_published(summarise(load_runs(_runs(tmp_path))), pub, published_tables=FOLLOWUPS)
    rec = summ[(summ.row_kind == "run") & (summ.method == "recraft")].iloc[0]
    assert np.isnan(rec.published_value) and rec.published_note == "metric differs (paper: F1 score)"
    assert rec.published_method == "RECRAFT"


def test_build_report_shows_the_follow_up_rows(tmp_path):
    path = tmp_path / "published.csv"
    path.write_text(SYNTHETIC)
    out = build_report(_runs(tmp_path), "followups", tmp_path / "results", tmp_path / "reports", path,
                       published_tables=FOLLOWUPS)
    df = pd.read_csv(out["csv"])
    assert set(df.loc[df.row_kind == "published_only", "published_table"]) == {"NB360_main", "RECRAFT_NB360"}
    rec = df[(df.row_kind == "run") & (df.method == "recraft")].iloc[0]
    assert rec.published_value == 0.25 and rec.published_table == "RECRAFT_NB360"
    md = out["md"].read_text()
    assert "PaRe" in md and "ORCA (RECRAFT_NB360)" in md


# ----------------------------------------------------------------------------- the project's published.csv
def test_every_published_table_is_orca_s_or_a_documented_follow_up():
    tables = set(load_published(PUBLISHED).table)
    assert tables <= ORCA_TABLES | set(FOLLOWUP_TABLES), tables - ORCA_TABLES - set(FOLLOWUP_TABLES)


def follow_up_row_problems(pub: pd.DataFrame) -> list[str]:
    """What is wrong with the follow-up rows of ``pub``: each must name its paper's page and table, reuse a task
    name and the metric of ORCA's table (the join pairs them by name; the units must agree), cite no aggregator
    site and appear once per (task, method)."""
    problems = []
    for table, orca_table in FOLLOWUP_TABLES.items():
        rows = pub[pub.table == table]
        orca = pub[pub.table == orca_table].drop_duplicates("task").set_index("task")["metric"]
        for _, r in rows.iterrows():
            where = f"{table}/{r.task}/{r.method}"
            if r.task not in orca.index:
                problems.append(f"{where}: not a task of {orca_table}")
            elif r.metric != orca[r.task] or r.metric not in set(METRIC_TO_PUBLISHED.values()):
                problems.append(f"{where}: metric {r.metric!r}, {orca_table} has {orca[r.task]!r}")
            if not (re.search(r"\bp\. ?\d+", r.source) and re.search(r"Table \d+", r.source)):
                problems.append(f"{where}: source names no page and table")
            if any(a in r.source.lower() for a in AGGREGATORS):
                problems.append(f"{where}: read from an aggregator site")
        if rows.duplicated(["task", "method"]).any():
            problems.append(f"{table}: a (task, method) twice")
    return problems


def test_follow_up_rows_of_published_csv_are_read_from_their_paper_in_orca_s_units():
    assert follow_up_row_problems(load_published(PUBLISHED)) == []


def test_the_follow_up_row_check_accepts_good_rows_and_names_each_bad_one(tmp_path):
    good = SYNTHETIC + 'PDEBench_main,"Advection (1D, beta=0.4)",ORCA,nRMSE,9.8E-3,no,test,\n'
    path = tmp_path / "published.csv"
    path.write_text(good)
    assert follow_up_row_problems(load_published(path)) == []
    bad = good + ('RECRAFT_NB360,ECG,LoRA,1-F1 score,0.3,no,"paperswithcode.com leaderboard",\n'
                       'RECRAFT_NB360,Cosmic,RECRAFT,1-AUROC,0.1,no,"test, p. 7 Table 1",\n')
    path.write_text(bad)
    problems = follow_up_row_problems(load_published(path))
    assert any("ECG/LoRA: source names no page and table" in p for p in problems)
    assert any("ECG/LoRA: read from an aggregator site" in p for p in problems)
    assert any("Cosmic/RECRAFT: not a task of NB360_main" in p for p in problems)


def test_follow_up_methods_never_rename_orca_s_rows():
    assert not set(FOLLOWUP_METHOD_MAP) & set(DEFAULT_METHOD_MAP)
    assert FOLLOWUP_METHOD_MAP["recraft"] == "RECRAFT"


def test_readme_says_what_each_follow_up_paper_offers():
    text = README.read_text()
    for needle in ("RECRAFT", "2601.18231", "2403.13537", "2406.16964", "LoRA"):
        assert needle in text, needle
