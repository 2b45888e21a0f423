"""The paper's layout (orca/report/wide.py; renderers in orca/report/tables.py) and one label per metric."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orca.evaluation.metrics import METRICS
from orca.report import build_report, report_targets
from orca.report.aggregate import (METRIC_TO_PUBLISHED, join_published, load_published, load_runs, metric_label,
                                   published_metric_label, summarise)
from orca.report.tables import to_latex, to_markdown
from orca.report.wide import MAX_TASK_COLUMNS, NO_NUMBER, wide_blocks

# task -> (title, metric, published.csv task or None); the order is the table's (the run files')
TASKS = {"spherical": ("Spherical", "zero_one_error_pct", "Spherical"),
         "cifar100": ("CIFAR-100", "zero_one_error_pct", "CIFAR-100"),
         "deepsea": ("DeepSEA", "one_minus_auroc_multilabel", "DeepSEA")}
PUBLISHED = """table,task,method,metric,value,higher_is_better,source,notes
NB360_main,CIFAR-100,Hand-designed (expert),0-1 error (%),19.39,no,t,
NB360_main,Spherical,Hand-designed (expert),0-1 error (%),67.41,no,t,
NB360_main,DeepSEA,Hand-designed (expert),1-AUROC,0.30,no,t,
NB360_main,CIFAR-100,DASH,0-1 error (%),24.37,no,t,
NB360_main,Spherical,DASH,0-1 error (%),,no,t,no bar
NB360_main,DeepSEA,DASH,1-AUROC,0.28,no,t,uncertain: read off a chart
NB360_main,CIFAR-100,FPT,0-1 error (%),10.11,no,t,
NB360_main,CIFAR-100,ORCA,0-1 error (%),6.53,no,t,
NB360_main,Spherical,ORCA,0-1 error (%),29.85,no,t,
NB360_main,DeepSEA,ORCA,1-AUROC,0.29,no,t,
"""
# method -> loss on each task (seed s adds 0.001 * s); xgboost is a classical baseline (no backbone)
MEANS = {"otdd-exact": 0.10, "none": 0.20, "l2": 0.30, "frozen-body": 0.40, "xgboost": 0.25}


def record(root: Path, task, method, seed, value, *, protocol="clean", backbone="swin-base", commit="abc123",
           rehearsal=False) -> Path:
    title, metric, pub = TASKS[task]
    base = backbone == "-"
    rel = (f"results/baselines/{task}/{method}/seed{seed}.json" if base
           else f"results/runs/{task}/{backbone}/{method}/{protocol}/seed{seed}.json")
    score = "test_best_epoch_original" if protocol == "original" else "test_at_best_val"
    run = {"task": task, "task_title": title, "backbone": backbone, "method": method, "seed": seed,
           "protocol": protocol, "metric": metric, "metric_display": METRICS[metric].display,
           "higher_is_better": False, "scores": {score: value, "test_last_epoch": value},
           "settings_hash": f"h-{task}-{backbone}-{method}-{protocol}", "wall_time_s": 1.0,
           "published_key": {"table": "NB360_main", "task": pub} if pub else None,
           "provenance": {"git_commit": commit, "git_dirty": False, "run_file": rel, "rehearsal": rehearsal}}
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run))
    return path


def table_runs(root: Path, protocols=("clean",), backbones=("swin-base",), seeds=(0, 1, 2), **kw) -> list[Path]:
    """Run files in the grid's order: per task, backbone, network method, protocol, seed; then the baselines."""
    paths = []
    for task in TASKS:
        for b in backbones:
            for m in ("none", "l2", "otdd-exact", "frozen-body"):
                for p in protocols:
                    shift = 0.05 if p == "original" else 0.0
                    paths += [record(root, task, m, s, MEANS[m] - shift + 0.001 * s, protocol=p, backbone=b, **kw)
                              for s in seeds]
    for task in TASKS:
        paths += [record(root, task, "xgboost", s, MEANS["xgboost"] + 0.001 * s, backbone="-", **kw) for s in seeds]
    return paths


@pytest.fixture
def pub_csv(tmp_path):
    p = tmp_path / "published.csv"
    p.write_text(PUBLISHED)
    return p


def joined(paths, pub_csv):
    runs = load_runs(paths, default_table="nb")
    summ = join_published(summarise(runs), load_published(pub_csv))
    return runs, summ, load_published(pub_csv)


def md_rows(md: str, section: str | None = None) -> dict[str, list[str]]:
    """First column -> the other cells, for the first Markdown table of ``md`` (after heading ``section``)."""
    lines = (md.split(section, 1)[1] if section else md).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split("|")])
    return {r[0]: r[1:] for r in [table[0]] + table[2:]}


# ----------------------------------------------------------------------------- one label per metric
def test_one_label_per_metric_from_one_mapping():
    for name, metric in METRICS.items():
        assert metric_label(name) == metric.display
    assert metric_label("error", "error") == "error" and metric_label("r2") == "r2"  # outside the registry
    # every published.csv metric string names one of our labels; 1-AUROC stands for three of our metrics
    for published in set(METRIC_TO_PUBLISHED.values()):
        assert published_metric_label(published) in {m.display for m in METRICS.values()}
    assert published_metric_label("1-AUROC") == "1 - AUROC" == metric_label("one_minus_auroc_pixel")
    assert published_metric_label("1-F1 score") == "1 - F1 score"
    assert published_metric_label("wins") == "wins"  # not a metric of ours: kept as printed


def test_the_published_rows_of_a_task_carry_our_label(tmp_path, pub_csv):
    paths = [record(tmp_path, "deepsea", m, s, MEANS[m] + 0.001 * s) for m in ("none", "otdd-exact") for s in (0, 1)]
    _, summ, _ = joined(paths, pub_csv)
    task = summ[summ.task == "deepsea"]
    assert set(task.row_kind) == {"run", "published_only"}
    assert set(task.metric_display) == {"1 - AUROC"}  # published.csv says 1-AUROC: one group, not two


def test_a_run_record_with_an_old_display_name_is_relabelled(tmp_path, pub_csv):
    p = record(tmp_path, "deepsea", "none", 0, 0.2)
    run = json.loads(p.read_text())
    run["metric_display"] = "1-AUROC"
    p.write_text(json.dumps(run))
    _, summ, _ = joined([p], pub_csv)
    assert set(summ.metric_display) == {"1 - AUROC"}


# ----------------------------------------------------------------------------- the pivot
def test_methods_are_rows_in_table_order_and_tasks_columns(tmp_path, pub_csv):
    runs, summ, pub = joined(table_runs(tmp_path), pub_csv)
    [block] = wide_blocks(summ, runs, "selected", pub)
    assert [c.task for c in block.columns] == list(TASKS)  # the run files' (config's) order, not alphabetical
    assert [c.metric for c in block.columns] == ["0-1 error (%)", "0-1 error (%)", "1 - AUROC"]
    # aligners in the catalogue's order (none first), controls, baselines, then the paper's rows in its order
    assert [r.label for r in block.rows] == [
        "none", "l2", "otdd-exact (ORCA)", "frozen-body (FPT)", "xgboost",
        "Hand-designed (expert) (paper)", "DASH (paper)"]
    assert not block.transposed and not block.split_backbones
    cells = {(r.method, c.task): block.cell(r, c) for r in block.rows for c in block.columns if block.cell(r, c)}
    orca = cells[("otdd-exact", "cifar100")]
    assert orca.mean == pytest.approx(0.101) and orca.paper == pytest.approx(6.53) and orca.bold
    assert not cells[("none", "cifar100")].bold
    assert np.isnan(cells[("l2", "cifar100")].paper)
    assert cells[("DASH", "deepsea")].paper_uncertain and cells[("DASH", "spherical")].paper_text == NO_NUMBER
    assert ("frozen-body", "spherical") in cells and np.isnan(cells[("frozen-body", "spherical")].paper)


def test_the_markdown_is_the_papers_table(tmp_path, pub_csv):
    runs, summ, pub = joined(table_runs(tmp_path), pub_csv)
    md = to_markdown(summ, "nb", blocks=wide_blocks(summ, runs, "selected", pub), long_file="nb_long.md")
    rows = md_rows(md)
    assert rows["Method"] == ["Spherical · 0-1 error (%) ↓", "CIFAR-100 · 0-1 error (%) ↓", "DeepSEA · 1 - AUROC ↓"]
    # ours [95% t CI] / the paper's number; mean 0.101, interval 0.101 -/+ 4.303 * 0.001 / sqrt(3)
    assert rows["otdd-exact (ORCA)"][1] == "**0.101 [0.0985, 0.103]** / 6.53"
    assert rows["none"][1] == "0.201 [0.199, 0.203]"
    assert rows["DASH (paper)"] == [NO_NUMBER, "24.37", "0.28*"]
    assert "`nb_long.md`" in md and "Provenance: commit(s) abc123" in md
    assert "## Protocol" not in md  # one protocol: no block headings, the protocol below the table
    assert "Protocol clean (seeded validation split" in md


def test_one_block_per_protocol_and_a_baseline_is_bold_only_where_it_ties_that_protocols_best(tmp_path, pub_csv):
    runs, summ, pub = joined(table_runs(tmp_path, protocols=("original", "clean")), pub_csv)
    blocks = wide_blocks(summ, runs, "selected", pub)
    assert [b.protocol for b in blocks] == ["original", "clean"]
    assert all(b.borrowed_baselines for b in blocks[:1])  # the clean baseline stands in the original block
    for b in blocks:
        xgb = next(r for r in b.rows if r.method == "xgboost")
        assert not any(b.cell(xgb, c).bold for c in b.columns)  # otdd-exact is better in both protocols

    # a task where the baseline (fit once, on the clean split) is best under clean only
    paths = [record(tmp_path / "b", "cifar100", "none", s, v, protocol=p)
             for p, vals in {"original": [0.10, 0.11], "clean": [0.30, 0.31]}.items() for s, v in enumerate(vals)]
    paths += [record(tmp_path / "b", "cifar100", "xgboost", s, v, backbone="-") for s, v in enumerate([0.15, 0.16])]
    runs, summ, pub = joined(paths, pub_csv)
    assert bool(summ.set_index("method").loc["xgboost", "tied_with_best"])  # the long form: bold somewhere
    original, clean = wide_blocks(summ, runs, "selected", pub)
    cell = {b.protocol: b.cell(next(r for r in b.rows if r.method == "xgboost"), b.columns[0]) for b in (original, clean)}
    assert not cell["original"].bold and cell["clean"].bold


def test_many_tasks_are_rows(tmp_path, pub_csv):
    runs, summ, pub = joined(table_runs(tmp_path, seeds=(0,)), pub_csv)
    [wide] = wide_blocks(summ, runs, "selected", pub)
    [tall] = wide_blocks(summ, runs, "selected", pub, max_task_columns=2)
    assert not wide.transposed and tall.transposed and MAX_TASK_COLUMNS >= 10  # NAS-Bench-360 stays wide
    md = to_markdown(summ, "nb", blocks=[tall])
    rows = md_rows(md)
    assert rows["Task"][:4] == ["Metric", "none", "l2", "otdd-exact (ORCA)"]
    assert rows["CIFAR-100"][0] == "0-1 error (%) ↓" and rows["CIFAR-100"][3] == "**0.1** / 6.53"
    assert "one seed per cell, so no interval" in md
    tex = to_latex(summ, "nb", blocks=[tall], name="nb")
    assert "Task & Metric & none & l2" in tex


def test_several_backbones_split_the_rows(tmp_path, pub_csv):
    runs, summ, pub = joined(table_runs(tmp_path, backbones=("roberta-base", "bert-base-uncased"), seeds=(0, 1)),
                             pub_csv)
    [block] = wide_blocks(summ, runs, "selected", pub)
    assert block.split_backbones
    assert [(r.backbone, r.method) for r in block.rows][:5] == [
        ("roberta-base", "none"), ("roberta-base", "l2"), ("roberta-base", "otdd-exact"),
        ("roberta-base", "frozen-body"), ("bert-base-uncased", "none")]
    assert [r.method for r in block.rows if not r.backbone] == ["xgboost", "Hand-designed (expert)", "DASH"]
    md = to_markdown(summ, "ab", blocks=[block])
    assert md_rows(md)["Backbone"][0] == "Method"


def test_the_latex_is_the_papers_table(tmp_path, pub_csv):
    runs, summ, pub = joined(table_runs(tmp_path, protocols=("original", "clean")), pub_csv)
    tex = to_latex(summ, "nb", blocks=wide_blocks(summ, runs, "selected", pub), long_file="nb_long.tex", name="nb")
    assert tex.count(r"\begin{table}") == 3  # original, clean, original - clean
    assert r"\label{tab:nb}" in tex and r"\label{tab:nb-clean}" in tex and r"\label{tab:nb-protocols}" in tex
    # metric grouped over adjacent tasks, direction in the header, tasks below
    assert r"\multicolumn{2}{c}{0-1 error (\%) $\downarrow$} & 1 - AUROC $\downarrow$ \\" in tex
    assert r"Method & Spherical & CIFAR-100 & DeepSEA \\" in tex
    # ours over the paper's number in one cell; a chart-read number starred
    assert (r"\begin{tabular}[t]{@{}c@{}}\textbf{0.051 [0.0485, 0.0535]}\\{\scriptsize (6.53)}\end{tabular}"
            in tex)
    assert r"DASH (paper) & -- & 24.37 & 0.28$^\ast$ \\" in tex
    captions = [line for line in tex.splitlines() if line.startswith(r"\caption{")]
    assert len(captions) == 3 and all(c.endswith("}") for c in captions)  # one line each (version notes)
    assert "Protocol original (the released code" in captions[0] and "Protocol clean" in captions[1]
    assert r"\texttt{nb\_long.tex}" in captions[0]


# ----------------------------------------------------------------------------- build_report
def test_build_report_writes_the_main_view_and_the_long_appendix(tmp_path, pub_csv):
    paths = table_runs(tmp_path / "runs", protocols=("original", "clean"), seeds=(0,), rehearsal=True)
    out = build_report(paths, "nb", tmp_path / "results", tmp_path / "reports", pub_csv, rehearsal=True)
    assert out == report_targets("nb", tmp_path / "results", tmp_path / "reports", False)
    assert out["md_long"] == tmp_path / "reports" / "nb_long.md"
    assert out["tex_long"] == tmp_path / "reports" / "nb_long.tex"
    md, tex = out["md"].read_text(), out["tex"].read_text()
    long_md, long_tex = out["md_long"].read_text(), out["tex_long"].read_text()
    # the rehearsal's mark stays on every view
    for text in (md, long_md):
        assert "REHEARSAL" in text.splitlines()[0]
    # both protocols' tables and their difference (the across-tasks caption names the table as profiles.py does)
    assert sum(line.startswith(r"\caption{nb [REHEARSAL") for line in tex.splitlines()) == 3
    assert "REHEARSAL" in long_tex and pd.read_csv(out["csv"])["rehearsal"].all()
    # the long form has a row per cell, the main view a row per method
    csv = pd.read_csv(out["csv"])
    first_table = long_md.split("\n\n")[2].splitlines()
    assert len(first_table) == 2 + len(csv)  # header, rule and one row per CSV row
    rows = md_rows(md, "## Protocol original")
    assert list(rows) == ["Method", "none", "l2", "otdd-exact (ORCA)", "frozen-body (FPT)", "xgboost",
                          "Hand-designed (expert) (paper)", "DASH (paper)"]  # one row per method
    assert len(md_rows(md, "## Protocol clean")) == len(rows)
    html = out["html"].read_text()
    assert "<table>" in html and "otdd-exact (ORCA)" in html and "Ours (mean [95% t CI])" in html
    assert "Δ vs none [95% t CI]" in html  # the legend names where the paired comparison is


def test_the_long_csv_keeps_its_rows(tmp_path, pub_csv):
    paths = table_runs(tmp_path / "runs", seeds=(0, 1))
    out = build_report(paths, "nb", tmp_path / "results", tmp_path / "reports", pub_csv)
    csv = pd.read_csv(out["csv"])
    # 3 tasks x (4 network methods + xgboost) of ours; the paper rows no run matched
    assert (csv.row_kind == "run").sum() == 15
    assert set(csv.loc[csv.row_kind == "published_only", "method"]) == {"Hand-designed (expert)", "DASH"}


def test_rendering_is_deterministic(tmp_path, pub_csv):
    paths = table_runs(tmp_path / "runs", protocols=("original", "clean"), seeds=(0, 1))
    first = build_report(paths, "nb", tmp_path / "r1", tmp_path / "p1", pub_csv)
    again = build_report(paths, "nb", tmp_path / "r2", tmp_path / "p2", pub_csv)
    for k in ("md", "tex", "md_long", "tex_long", "html", "csv"):
        assert first[k].read_bytes() == again[k].read_bytes(), k
    # the row order does not hang on the order the files are given in (the columns follow it: the config's)
    shuffled = paths[:]
    random.Random(0).shuffle(shuffled)
    other = build_report(shuffled, "nb", tmp_path / "r3", tmp_path / "p3", pub_csv)
    runs, summ, pub = joined(shuffled, pub_csv)
    [a, _] = wide_blocks(summ, runs, "selected", pub)
    assert [r.label for r in a.rows][:5] == ["none", "l2", "otdd-exact (ORCA)", "frozen-body (FPT)", "xgboost"]
    assert other["csv"].read_bytes() == first["csv"].read_bytes()
