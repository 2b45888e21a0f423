"""Average improvement over XGBoost per group of tasks, from synthetic run JSON files."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from orca.report import build_report
from orca.report.aggregate import load_published, load_runs, summarise
from orca.report.summary import SUMMARY_TABLE_COLUMNS, build_summary, improvement_label
from orca.plan.grid import ConfigError, Grid

REPO = Path(__file__).resolve().parents[2]
# metric -> (display, higher_is_better)
METRICS = {"one_minus_auroc": ("1 - AUROC", False), "zero_one_error_pct": ("0-1 error (%)", False),
           "r2": ("R^2", True)}


def write_run(root: Path, task, method, seed, value, metric="one_minus_auroc", backbone=None, rel=None):
    """One run JSON (no table field: the report call assigns it) at ``root / rel``."""
    display, hib = METRICS[metric]
    backbone = backbone or ("-" if method in ("xgboost", "logistic-regression") else "roberta-base")
    run = {"task": task, "task_title": task, "backbone": backbone, "method": method, "seed": seed,
           "metric": metric, "metric_display": display, "higher_is_better": hib,
           "scores": {"test_at_best_val": value, "test_last_epoch": value}, "settings_hash": "h0",
           "provenance": {"git_commit": "abc123", "run_file": f"results/runs/{task}/{backbone}/{method}/seed{seed}.json"}}
    p = root / (rel or f"{task}/{backbone}/{method}/seed{seed}.json")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(run))
    return p


# task -> metric, {method: per-seed stored values (losses for 1-AUROC and 0-1 error, R^2 as is)}
RUNS = {
    # AUROC group: t1 ORCA 1-AUROC mean 0.15 vs XGB 0.20 -> +0.05; t2 0.30 vs 0.10 -> -0.20; t3 has no XGBoost
    "t1": ("one_minus_auroc", {"otdd-exact": [0.10, 0.20], "none": [0.25], "xgboost": [0.20]}),
    "t2": ("one_minus_auroc", {"otdd-exact": [0.30], "none": [0.05], "xgboost": [0.05, 0.15]}),
    "t3": ("one_minus_auroc", {"otdd-exact": [0.01], "none": [0.02]}),
    # error-% group: accuracy points; u1 err 10 vs 12.5 -> +2.5; u2 err 20 vs 18 -> -2.0
    "u1": ("zero_one_error_pct", {"otdd-exact": [10.0], "xgboost": [12.5]}),
    "u2": ("zero_one_error_pct", {"otdd-exact": [20.0], "xgboost": [18.0]}),
    # higher-is-better group: 0.8 vs 0.7 -> +0.1
    "v1": ("r2", {"otdd-exact": [0.8], "xgboost": [0.7]}),
    # in no group: never counted
    "w1": ("one_minus_auroc", {"otdd-exact": [0.9], "xgboost": [0.0]}),
}
SPEC = {"improvement_over": "xgboost", "groups": {
    "auroc": {"title": "AUROC tasks", "published_table": "P_AUROC", "tasks": ["t1", "t2", "t3"]},
    "acc": {"published_table": "P_ACC", "tasks": ["u1", "u2"]},
    "hib": {"tasks": ["v1"]},
    "empty": {"published_table": "P_EMPTY", "tasks": ["never-run"]},
}}
PUBLISHED = """table,task,method,metric,value,higher_is_better,source,notes
P_AUROC,all,ORCA,mean AUROC improvement over XGBoost,0.0036,yes,chart,uncertain: digitized bar height
P_AUROC,all,TabPFN,mean AUROC improvement over XGBoost,0.0034,yes,chart,uncertain: digitized bar height
P_ACC,all,ORCA,mean accuracy improvement over XGBoost (percentage points),5.60,yes,chart,uncertain: digitized
P_ACC,all,ORCA,number of tasks where ORCA beats LIFT,11/14,yes,text,
P_EMPTY,all,ORCA,mean AUROC improvement over XGBoost,0.5,yes,chart,uncertain
"""


@pytest.fixture
def run_files(tmp_path):
    return [write_run(tmp_path / "runs", task, method, seed, v, metric)
            for task, (metric, by_method) in RUNS.items()
            for method, vals in by_method.items() for seed, v in enumerate(vals)]


@pytest.fixture
def published(tmp_path):
    p = tmp_path / "published.csv"
    p.write_text(PUBLISHED)
    return p


def rows_of(df, group, method):
    return df[(df.group == group) & (df.method == method) & (df.row_kind == "run")].iloc[0]


def test_improvement_hand_computed(run_files, published):
    df = build_summary(summarise(load_runs(run_files, default_table="tab")), "tab", SPEC, load_published(published))
    assert list(df.columns) == SUMMARY_TABLE_COLUMNS
    orca = rows_of(df, "auroc", "otdd-exact")
    # AUROC gain = (1 - loss_orca) - (1 - loss_xgb) on per-task seed means; t3 has no XGBoost: left out
    assert orca["mean_improvement"] == pytest.approx(((0.20 - 0.15) + (0.10 - 0.30)) / 2)  # -0.075
    assert orca["n_datasets"] == 2 and orca["n_group_tasks"] == 3
    assert orca["datasets_used"] == "t1,t2" and orca["datasets_missing"] == "t3"
    assert orca["improvement_label"] == "mean AUROC improvement over XGBoost"
    none = rows_of(df, "auroc", "none")
    assert none["mean_improvement"] == pytest.approx(((0.20 - 0.25) + (0.10 - 0.05)) / 2)  # 0.0
    assert none["n_datasets"] == 2
    # 0-1 error in %: accuracy percentage points, positive = fewer errors than XGBoost
    acc = rows_of(df, "acc", "otdd-exact")
    assert acc["mean_improvement"] == pytest.approx((2.5 - 2.0) / 2)
    assert acc["improvement_label"] == "mean accuracy improvement over XGBoost (percentage points)"
    # higher-is-better metric: method - XGBoost
    assert rows_of(df, "hib", "otdd-exact")["mean_improvement"] == pytest.approx(0.1)
    assert "xgboost" not in set(df.method)  # the reference is not compared with itself
    assert "w1" not in ",".join(df.datasets_used.astype(str))


def test_no_common_dataset_gives_empty_cells(run_files, published):
    df = build_summary(summarise(load_runs(run_files, default_table="tab")), "tab", SPEC, load_published(published))
    r = rows_of(df, "acc", "none")  # 'none' never ran on the error-% tasks
    assert r["n_datasets"] == 0 and np.isnan(r["mean_improvement"])
    empty = df[df.group == "empty"]
    assert empty.loc[empty.row_kind == "run", "mean_improvement"].isna().all()
    assert (empty.loc[empty.row_kind == "run", "n_datasets"] == 0).all()
    # nothing of ours to compare: the paper row is listed on its own, never joined to an empty label
    assert set(empty.loc[empty.row_kind == "published_only", "published_method"]) == {"ORCA"}


def test_paper_rows_beside_ours(run_files, published):
    df = build_summary(summarise(load_runs(run_files, default_table="tab")), "tab", SPEC, load_published(published))
    orca = rows_of(df, "auroc", "otdd-exact")
    assert orca["published_method"] == "ORCA" and orca["published_value"] == pytest.approx(0.0036)
    assert orca["diff_vs_published"] == pytest.approx(-0.075 - 0.0036)
    assert "uncertain" in orca["published_note"]
    only = df[(df.group == "auroc") & (df.row_kind == "published_only")]
    assert list(only.published_method) == ["TabPFN"] and only["mean_improvement"].isna().all()
    # same measure: accuracy points vs accuracy points
    acc = rows_of(df, "acc", "otdd-exact")
    assert acc["diff_vs_published"] == pytest.approx(0.25 - 5.60)
    count = df[(df.group == "acc") & (df.row_kind == "published_only")].iloc[0]
    assert np.isnan(count["published_value"]) and count["published_note"] == "paper reports 11/14"
    # no paper method for 'none': empty paper cells
    assert np.isnan(rows_of(df, "auroc", "none")["published_value"])


def test_other_measure_is_not_compared(run_files, published):
    """An AUROC group beside a paper panel in accuracy points: both shown, no difference."""
    spec = {"improvement_over": "xgboost", "groups": {"g": {"published_table": "P_ACC", "tasks": ["t1", "t2"]}}}
    df = build_summary(summarise(load_runs(run_files, default_table="tab")), "tab", spec, load_published(published))
    orca = rows_of(df, "g", "otdd-exact")
    assert np.isnan(orca["published_value"]) and np.isnan(orca["diff_vs_published"])
    assert "another measure" in orca["published_note"]
    paper = df[(df.row_kind == "published_only") & (df.published_value == 5.60)]
    assert len(paper) == 1 and "uncertain" in paper.iloc[0]["published_note"]


def test_mixed_metrics_in_a_group_refused(run_files):
    spec = {"improvement_over": "xgboost", "groups": {"mix": {"tasks": ["t1", "u1"]}}}
    with pytest.raises(ValueError, match="mixes metrics"):
        build_summary(summarise(load_runs(run_files, default_table="tab")), "tab", spec, None)


def test_labels():
    assert improvement_label("one_minus_auroc", "1 - AUROC", False, "xgboost") == "mean AUROC improvement over XGBoost"
    assert improvement_label("nrmse", "nRMSE", False, "xgboost") == "mean nRMSE reduction vs XGBoost"
    assert improvement_label("r2", "R^2", True, "none") == "mean R^2 improvement over none"


def test_build_report_writes_the_summary(run_files, published, tmp_path):
    out = build_report(run_files, "tab", tmp_path / "results", tmp_path / "reports", published, summary=SPEC)
    assert out["summary_csv"] == tmp_path / "results" / "tab_summary.csv"
    df = pd.read_csv(out["summary_csv"])
    r = df[(df.group == "auroc") & (df.method == "otdd-exact")].iloc[0]
    assert r["mean_improvement"] == pytest.approx(-0.075) and r["n_datasets"] == 2
    md = out["md"].read_text()
    assert "## Average improvement over XGBoost" in md and "| -0.075 " in md and "2/3" in md
    assert "uncertain (read off a chart)" in md and "digitized from a chart (uncertain)" in md
    assert "| AUROC tasks" in md
    tex = out["tex"].read_text()
    assert "average improvement over XGBoost" in tex and r"0.0036$^\ast$" in tex and "-0.075 & 2/3" in tex
    assert tex.count(r"\begin{table}") == 3  # the table, the across-tasks ranks, the summary
    # the main table is unchanged by the summary
    assert len(pd.read_csv(out["csv"]).query("row_kind == 'run'")) == sum(len(m) for _, m in RUNS.values())


def test_build_report_without_summary_has_no_summary(run_files, tmp_path):
    out = build_report(run_files, "tab", tmp_path / "results", tmp_path / "reports", None)
    assert "summary_csv" not in out and not (tmp_path / "results" / "tab_summary.csv").exists()
    assert "Average improvement" not in out["md"].read_text()


# ----------------------------------------------------------------------------- config
def default_config(**summary):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["benchmarks"] = [str(REPO / "benchmarks")]
    cfg["tables"]["default"]["summary"] = {"improvement_over": "xgboost",
                                           "groups": {"tab": {"tasks": ["iris", "wine"]}}} | summary
    return cfg


def test_config_summary_validated():
    Grid(default_config())
    with pytest.raises(ConfigError, match=r"summary.improvement_over: 'catboost'"):
        Grid(default_config(improvement_over="catboost"))
    with pytest.raises(ConfigError, match=r"summary.groups.tab.tasks: cifar100 not in"):
        Grid(default_config(groups={"tab": {"tasks": ["iris", "cifar100"]}}))


def test_paper_config_groups_the_openml_table():
    from snakemake.utils import validate

    cfg = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    validate(cfg, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    table = cfg["tables"]["openml"]
    groups = table["summary"]["groups"]
    assert table["summary"]["improvement_over"] == "xgboost"
    assert len(groups["tabpfn30"]["tasks"]) == 30 and len(groups["lift"]["tasks"]) == 12
    assert sorted(groups["tabpfn30"]["tasks"] + groups["lift"]["tasks"]) == sorted(table["tasks"])
    # the task files say which group each row belongs to (header comment)
    for name in groups["tabpfn30"]["tasks"]:
        assert "30 TabPFN" in (REPO / "benchmarks" / "openml" / f"{name}.yaml").read_text().splitlines()[0]


# ----------------------------------------------------------------------------- the table rule
def test_table_rule_writes_the_summary(tmp_path):
    """`snakemake table_<name>` on existing run files (only the table rule allowed): summary CSV + sections."""
    import subprocess
    import sys

    aurocs = {"iris": (0.10, 0.20), "wine": (0.30, 0.10), "wdbc": (0.05, 0.04)}  # (ORCA, XGBoost) 1 - AUROC
    for task, (orca, xgb) in aurocs.items():  # where the rule looks for them
        write_run(tmp_path, task, "otdd-exact", 0, orca, rel=f"results/runs/{task}/minilm-l6/otdd-exact/clean/seed0.json")
        write_run(tmp_path, task, "xgboost", 0, xgb, rel=f"results/baselines/{task}/xgboost/seed0.json")
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update(benchmarks=[str(REPO / "benchmarks")], cache_dir=str(tmp_path / "cache"), targets=["s"])
    cfg["tables"] = {"s": {"tasks": list(aurocs), "backbones": ["minilm-l6"], "aligners": ["otdd-exact"],
                           "baselines": ["xgboost"], "seeds": [0],
                           "summary": {"improvement_over": "xgboost", "groups": {
                               "g": {"title": "three tasks", "tasks": list(aurocs)}}}}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
           "--configfile", str(config), "--cores", "1", "--allowed-rules", "table_s", "--", "table_s"]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_csv(tmp_path / "results" / "s_summary.csv")
    r = df[df.method == "otdd-exact"].iloc[0]
    assert r["mean_improvement"] == pytest.approx(((0.2 - 0.1) + (0.1 - 0.3) + (0.04 - 0.05)) / 3)
    assert r["n_datasets"] == 3
    assert "## Average improvement over XGBoost" in (tmp_path / "reports" / "s.md").read_text()
    assert "wrote results/s_summary.csv" in (tmp_path / "logs" / "report" / "s.log").read_text()


def test_summary_of_a_table_with_both_protocols_uses_the_original_runs(tmp_path):
    # t1: clean ORCA 0.30 vs XGBoost 0.20 (-0.10); original ORCA 0.10 (+0.10): the summary takes the original runs
    files = [write_run(tmp_path, "t1", "xgboost", 0, 0.20), write_run(tmp_path, "t1", "otdd-exact", 0, 0.30)]
    p = write_run(tmp_path, "t1", "otdd-exact", 0, 0.0, rel="t1/roberta-base/otdd-exact/original/seed0.json")
    run = json.loads(p.read_text())
    run.update(protocol="original", scores={"test_best_epoch_original": 0.10, "test_last_epoch": 0.10})
    p.write_text(json.dumps(run))
    spec = {"improvement_over": "xgboost", "groups": {"g": {"tasks": ["t1"]}}}
    build_report(files + [p], "s", tmp_path / "results", tmp_path / "reports", None, summary=spec)
    df = pd.read_csv(tmp_path / "results" / "s_summary.csv")
    ours = df[df["method"] == "otdd-exact"]
    assert len(ours) == 1 and ours["mean_improvement"].item() == pytest.approx(0.10)
