"""Report building from synthetic run JSON files."""
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orca.report import build_report
from orca.report.aggregate import SUMMARY_COLUMNS, join_published, load_published, load_runs, summarise

# (task, metric, higher_is_better, published task key or None)
TASKS = {
    "iris": ("one_minus_auroc", "1 - AUROC", None),
    "ecg": ("one_minus_macro_f1", "1 - F1 score", "ECG"),
}
# scores[task][method] = test_at_best_val per seed 0, 1, 2
SCORES = {
    "iris": {"otdd-exact": [0.010, 0.020, 0.030], "no-align": [0.050, 0.040, 0.090], "xgboost": [0.030]},
    "ecg": {"otdd-exact": [0.30, 0.26, 0.31], "no-align": [0.25, 0.27, 0.29]},
}


def write_run(root: Path, table, task, method, seed, value, *, backbone="minilm-l6", commit="abc123",
              settings_hash="ab12cd34", published=True, paper_method=None):
    metric, display, pub_task = TASKS[task]
    rel = f"results/runs/{table}/{task}/{backbone}/{method}/seed{seed}.json"
    run = {
        "table": table, "task": task, "task_title": f"{task} (title)", "suite": "offline",
        "backbone": backbone, "method": method, "seed": seed, "metric": metric, "metric_display": display,
        "higher_is_better": False,
        "scores": {"test_at_best_val": value, "test_last_epoch": value + 1.0, "best_val": 0.0, "best_epoch": 3},
        "wall_time_s": 10.0 + seed, "settings_hash": settings_hash,
        "published_key": {"table": "NB360_main", "task": pub_task} if (pub_task and published) else None,
        "provenance": {"git_commit": commit, "git_dirty": False, "run_file": rel},
    }
    if paper_method and run["published_key"]:
        run["published_key"]["method"] = paper_method
    if table is None:
        del run["table"]  # the harness may leave it to the report call
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(run))
    return p


def make_runs(root: Path, table="default", published=True, commit_of=lambda task, method, seed: "abc123"):
    paths = []
    for task, by_method in SCORES.items():
        for method, vals in by_method.items():
            for seed, v in enumerate(vals):
                paths.append(write_run(root, table, task, method, seed, v, commit=commit_of(task, method, seed),
                                       published=published))
    return paths


PUBLISHED = """table,task,method,metric,value,higher_is_better,source,notes
NB360_main,ECG,ORCA,1-F1 score,0.28,no,test,
NB360_main,ECG,DASH,1-F1 score,0.32,no,test,
NB360_main,ECG,FPT,1-F1 score,0.50,no,test,uncertain: from a chart
NB360_main,CIFAR-100,ORCA,0-1 error (%),6.53,no,test,
"""


@pytest.fixture
def pub_csv(tmp_path):
    p = tmp_path / "published.csv"
    p.write_text(PUBLISHED)
    return p


def test_summary_values_independent(tmp_path):
    summ = summarise(load_runs(make_runs(tmp_path, published=False)))
    assert len(summ) == 5
    for task, by_method in SCORES.items():
        for method, vals in by_method.items():
            r = summ[(summ.task == task) & (summ.method == method)].iloc[0]
            assert r["mean"] == pytest.approx(sum(vals) / len(vals))
            if len(vals) > 1:
                m = sum(vals) / len(vals)
                assert r["std"] == pytest.approx((sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5)
            else:
                assert np.isnan(r["std"])
            assert r["n_seeds"] == len(vals)
            assert r["seeds"] == ",".join(str(s) for s in range(len(vals)))
            assert r["wall_time_s"] == pytest.approx(10 + (len(vals) - 1) / 2)
    best = summ[summ.best]
    assert set(zip(best.task, best.method)) == {("iris", "otdd-exact"), ("ecg", "no-align")}
    assert not summ["mixed_commits"].any()
    assert set(summ.git_commits) == {"abc123"}


def test_other_score_column(tmp_path):
    summ = summarise(load_runs(make_runs(tmp_path, published=False)), score="test_last_epoch")
    r = summ[(summ.task == "iris") & (summ.method == "otdd-exact")].iloc[0]
    assert r["mean"] == pytest.approx(1.02)
    with pytest.raises(ValueError, match="unknown score"):
        summarise(load_runs(make_runs(tmp_path, published=False)), score="nope")


def test_mismatched_settings_hash_refused(tmp_path):
    paths = make_runs(tmp_path, published=False)
    paths.append(write_run(tmp_path, "default", "iris", "otdd-exact", 7, 0.5, settings_hash="ffff0000"))
    with pytest.raises(ValueError, match=r"default/iris/minilm-l6/otdd-exact.*ab12cd34.*ffff0000"):
        summarise(load_runs(paths))


def test_duplicate_seed_refused(tmp_path):
    paths = make_runs(tmp_path, published=False)
    dup = write_run(tmp_path / "elsewhere", "default", "iris", "otdd-exact", 1, 0.5)
    with pytest.raises(ValueError, match="duplicate seeds"):
        summarise(load_runs(paths + [dup]))


def test_mixed_commits_flagged(tmp_path):
    paths = make_runs(tmp_path, published=False,
                      commit_of=lambda t, m, s: "def456" if (t, m, s) == ("ecg", "no-align", 2) else "abc123")
    summ = summarise(load_runs(paths))
    r = summ[(summ.task == "ecg") & (summ.method == "no-align")].iloc[0]
    assert bool(r["mixed_commits"]) and r["git_commits"] == "abc123+def456"
    assert summ["mixed_commits"].sum() == 1
    out = build_report(paths, "default", tmp_path / "results", tmp_path / "reports", None)
    # mean [95% t interval]: 0.27 ± t(0.975, 2) * 0.02 / sqrt(3) = [0.2203, 0.3197]
    assert "**0.27 [0.22, 0.32]** †" in out["md"].read_text()
    tex = out["tex"].read_text()
    assert r"\textbf{0.27 [0.22, 0.32]}$^\dagger$" in tex and "abc123, def456" in tex and "mixed commits" in tex


def test_published_join(tmp_path, pub_csv):
    summ = join_published(summarise(load_runs(make_runs(tmp_path))), load_published(pub_csv))
    assert list(summ.columns) == SUMMARY_COLUMNS
    r = summ[(summ.task == "ecg") & (summ.method == "otdd-exact")].iloc[0]
    assert r["published_method"] == "ORCA" and r["published_value"] == pytest.approx(0.28)
    assert r["diff_vs_published"] == pytest.approx((0.30 + 0.26 + 0.31) / 3 - 0.28)
    # no paper method for no-align: empty cells, nothing invented
    r = summ[(summ.task == "ecg") & (summ.method == "no-align")].iloc[0]
    assert np.isnan(r["published_value"]) and np.isnan(r["diff_vs_published"])
    # paper rows the harness has not run: published number, empty mean
    only = summ[summ.row_kind == "published_only"]
    assert set(only.method) == {"DASH", "FPT"}
    assert only["mean"].isna().all() and not only["best"].any()
    assert only.set_index("method").loc["DASH", "published_value"] == pytest.approx(0.32)
    assert "uncertain" in only.set_index("method").loc["FPT", "published_note"]
    # tasks of other tables/tasks are not pulled in; iris (no published key) has no paper number
    assert "CIFAR-100" not in set(summ.published_task.dropna())
    assert summ[summ.task == "iris"]["published_value"].isna().all()


def test_published_metric_mismatch_not_joined(tmp_path, pub_csv):
    pub = load_published(pub_csv)
    pub.loc[pub.task == "ECG", "metric"] = "1-AUROC"
    summ = join_published(summarise(load_runs(make_runs(tmp_path))), pub)
    r = summ[(summ.task == "ecg") & (summ.method == "otdd-exact")].iloc[0]
    assert np.isnan(r["published_value"]) and "metric differs" in r["published_note"]


def test_build_report_end_to_end(tmp_path, pub_csv):
    paths = make_runs(tmp_path / "runs")
    # a run of another table is ignored
    paths.append(write_run(tmp_path / "runs", "other", "iris", "otdd-exact", 0, 0.9))
    out = build_report(paths, "default", tmp_path / "results", tmp_path / "reports", pub_csv)
    assert set(out) == {"csv", "md", "tex", "html", "png", "pdf", "ranks_csv", "profile_csv", "profile_png",
                        "profile_pdf", "md_long", "tex_long"}
    assert out["md_long"] == tmp_path / "reports" / "default_long.md"
    for p in out.values():
        assert p.exists() and p.stat().st_size > 0
    assert out["csv"] == tmp_path / "results" / "default.csv"
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["pdf"].read_bytes()[:5] == b"%PDF-"
    assert out["profile_png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # no temporary files left behind
    assert not [f for f in os.listdir(tmp_path / "reports") if f.endswith(".tmp")]

    df = pd.read_csv(out["csv"])
    assert list(df.columns) == SUMMARY_COLUMNS
    ran = df[df.row_kind == "run"]
    assert len(ran) == 5
    r = ran[(ran.task == "iris") & (ran.method == "no-align")].iloc[0]
    assert r["mean"] == pytest.approx(0.06) and r["std"] == pytest.approx(np.std([0.05, 0.04, 0.09], ddof=1))
    assert r["run_files_dir"] == "results/runs/default/iris/minilm-l6/no-align"

    tex = out["tex"].read_text()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    # iris best: otdd-exact 0.02, interval 0.02 -/+ 4.303 * 0.01 / sqrt(3) = [-0.00484, 0.0448]
    assert r"\textbf{0.02 [-0.00484, 0.0448]}" in tex
    assert r"\textbf{0.27 [0.22, 0.32]}" in tex  # ecg best: no-align
    assert "best-validation epoch" in tex and "abc123" in tex and "results/runs/default" in tex
    assert "0,1,2" in tex

    md = out["md"].read_text()
    assert "**0.02 [-0.00484, 0.0448]**" in md and "| Method" in md and "0.28" in md
    # the long form is the appendix: one row per task x backbone x method x protocol, Δ vs none and the paper
    long_md, long_tex = out["md_long"].read_text(), out["tex_long"].read_text()
    assert "| Task" in long_md and "Δ vs none [95% t CI]" in long_md and "Paper method" in long_md
    assert "**0.02 [-0.00484, 0.0448]**" in long_md and r"\label{tab:default-long}" in long_tex
    assert r"\textbf{0.02 [-0.00484, 0.0448]}" in long_tex and r"\toprule" in long_tex


def test_build_report_without_published(tmp_path):
    """The default offline table has no published numbers; it still builds."""
    paths = make_runs(tmp_path, published=False)
    out = build_report(paths, "default", tmp_path / "results", tmp_path / "reports", None)
    df = pd.read_csv(out["csv"])
    assert (df.row_kind == "run").all() and df.published_value.isna().all()
    assert "Paper" not in out["md"].read_text()
    assert out["pdf"].stat().st_size > 0


def test_failed_build_leaves_no_table(tmp_path):
    paths = make_runs(tmp_path, published=False)
    paths.append(write_run(tmp_path, "default", "iris", "otdd-exact", 9, 0.5, settings_hash="ffff0000"))
    with pytest.raises(ValueError):
        build_report(paths, "default", tmp_path / "results", tmp_path / "reports", None)
    assert not (tmp_path / "results" / "default.csv").exists()
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_backbone_free_baseline_competes_in_each_backbone_group(tmp_path):
    paths = [write_run(tmp_path, "default", "iris", "otdd-exact", s, v, backbone=b)
             for b, vals in {"minilm-l6": [0.02, 0.04], "roberta": [0.001, 0.003]}.items()
             for s, v in enumerate(vals)]
    paths.append(write_run(tmp_path, "default", "iris", "xgboost", 0, 0.01, backbone="-"))
    summ = summarise(load_runs(paths)).set_index(["backbone", "method"])
    assert bool(summ.loc[("-", "xgboost"), "best"])  # beats otdd-exact on minilm-l6 (0.03)
    assert not bool(summ.loc[("minilm-l6", "otdd-exact"), "best"])
    assert bool(summ.loc[("roberta", "otdd-exact"), "best"])  # 0.002 beats xgboost


def test_published_key_method_renames_only_mapped_methods(tmp_path, pub_csv):
    paths = [write_run(tmp_path, None, "ecg", m, 0, v, paper_method="DASH")
             for m, v in [("otdd-exact", 0.30), ("no-align", 0.25)]]
    summ = join_published(summarise(load_runs(paths, default_table="nb")), load_published(pub_csv))
    assert set(summ.table) == {"nb"}
    ran = summ[summ.row_kind == "run"].set_index("method")
    assert ran.loc["otdd-exact", "published_method"] == "DASH"
    assert ran.loc["otdd-exact", "diff_vs_published"] == pytest.approx(0.30 - 0.32)
    assert np.isnan(ran.loc["no-align", "published_value"])  # ablation: not compared
    assert set(summ[summ.row_kind == "published_only"].method) == {"ORCA", "FPT"}
    with pytest.raises(ValueError, match="missing fields"):
        load_runs(paths)


def _original_run(root: Path, method, seed, best, last, backbone="minilm-l6"):
    """An original-protocol run of iris: test-selected best and last epoch, no validation score."""
    run = json.loads(write_run(root / "template", "default", "iris", method, seed, 0.0, backbone=backbone).read_text())
    run["protocol"] = "original"
    run["scores"] = {"test_best_epoch_original": best, "test_last_epoch": last, "best_epoch": 2}
    out = root / f"results/runs/iris/{backbone}/{method}/original/seed{seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(run))
    return out


def test_each_protocol_reports_its_own_score_and_best_per_protocol(tmp_path):
    clean = [write_run(tmp_path, "default", "iris", m, s, v)  # files without "protocol" are clean runs
             for m, vals in {"otdd-exact": [0.02, 0.04], "no-align": [0.05, 0.07]}.items() for s, v in enumerate(vals)]
    original = [_original_run(tmp_path, m, s, best, best + 0.1)
                for m, vals in {"otdd-exact": [0.03, 0.05], "no-align": [0.01, 0.03]}.items()
                for s, best in enumerate(vals)]
    baseline = [write_run(tmp_path, "default", "iris", "xgboost", 0, 0.015, backbone="-")]
    summ = summarise(load_runs(clean + original + baseline)).set_index(["method", "protocol"])
    assert summ.loc[("otdd-exact", "clean"), "score"] == "test_at_best_val"
    assert summ.loc[("otdd-exact", "clean"), "mean"] == pytest.approx(0.03)
    assert summ.loc[("otdd-exact", "original"), "score"] == "test_best_epoch_original"
    assert summ.loc[("no-align", "original"), "mean"] == pytest.approx(0.02)
    # best per protocol; the backbone-free baseline (0.015) competes in each protocol's group
    assert bool(summ.loc[("xgboost", "clean"), "best"]) and not bool(summ.loc[("otdd-exact", "clean"), "best"])
    assert not bool(summ.loc[("no-align", "original"), "best"])  # 0.02 > 0.015
    last = summarise(load_runs(original), score="test_last_epoch").set_index("method")
    assert last.loc["no-align", "mean"] == pytest.approx(0.12)
    with pytest.raises(ValueError, match="score 'test_at_best_val' missing"):
        summarise(load_runs(original), score="test_at_best_val")


def test_markdown_puts_the_protocols_side_by_side(tmp_path):
    clean = [write_run(tmp_path, "default", "iris", "otdd-exact", s, v) for s, v in enumerate([0.02, 0.04])]
    original = [_original_run(tmp_path, "otdd-exact", s, b, b) for s, b in enumerate([0.01, 0.02])]
    build_report(clean + original, "default", tmp_path / "results", tmp_path / "reports", None)
    # the main view: one table per protocol, then original - clean per method and task
    md = (tmp_path / "reports" / "default.md").read_text()
    assert md.index("## Protocol original") < md.index("## Protocol clean") < md.index("## Protocols side by side")
    section = md.split("## Protocols side by side")[1]
    row = next(line for line in section.splitlines() if line.startswith("| otdd-exact"))
    assert [c.strip() for c in row.strip("|").split("|")] == ["otdd-exact", "-0.015"]
    tex = (tmp_path / "reports" / "default.tex").read_text()
    assert r"\label{tab:default}" in tex and r"\label{tab:default-clean}" in tex
    assert r"\label{tab:default-protocols}" in tex and "otdd-exact & -0.015" in tex
    # the long form keeps every number of the comparison
    long_md = (tmp_path / "reports" / "default_long.md").read_text()
    section = long_md.split("## Protocols side by side")[1]
    row = next(line for line in section.splitlines() if line.startswith("| iris"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5:7] == ["0.015", "0.03"] and cells[8] == "-0.015"  # original, clean, original - clean
    assert set(pd.read_csv(tmp_path / "results" / "default.csv")["protocol"]) == {"original", "clean"}
    long_tex = (tmp_path / "reports" / "default_long.tex").read_text()
    assert r"\label{tab:default-long-protocols}" in long_tex and "0.015 & 0.03 &  & -0.015" in long_tex
