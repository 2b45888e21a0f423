"""Performance profiles, mean ranks and win/tie/loss counts (orca/report/profiles.py)."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orca.report.aggregate import load_runs, summarise
from orca.report.profiles import (FLOOR_FRACTION, across_latex, across_markdown, performance_ratios,
                                  profile_curves, rank_table)


def runs_of(tmp_path: Path, table: dict, hib=False):
    """table: task -> method -> {seed: value}; returns (summary, runs)."""
    paths = []
    for task, methods in table.items():
        for method, vals in methods.items():
            for seed, v in vals.items():
                bb = "-" if method == "xgboost" else "minilm-l6"
                run = {"table": "t", "task": task, "backbone": bb, "method": method, "seed": seed, "metric": "m",
                       "higher_is_better": hib, "settings_hash": "h", "scores": {"test_at_best_val": v}}
                p = tmp_path / f"{task}-{method}-{seed}.json"
                p.write_text(json.dumps(run))
                paths.append(p)
    runs = load_runs(paths)
    return summarise(runs), runs


def ratio(r: pd.DataFrame, task, method):
    return r[(r.task == task) & (r.method == method)]["ratio"].iloc[0]


def test_ratios_of_losses_scores_and_zeros(tmp_path):
    summ, _ = runs_of(tmp_path, {"a": {"none": {0: 0.2}, "l2": {0: 0.1}},
                                 "b": {"none": {0: 0.0}, "l2": {0: 0.5}},
                                 "c": {"none": {0: 0.0}, "l2": {0: 0.0}}})
    r = performance_ratios(summ)
    assert ratio(r, "a", "none") == pytest.approx(2.0) and ratio(r, "a", "l2") == pytest.approx(1.0)
    # a loss of 0 is floored at FLOOR_FRACTION x the task's largest (0.5): 0.5 / 0.005 = 100
    assert ratio(r, "b", "l2") == pytest.approx(0.5 / (FLOOR_FRACTION * 0.5)) and ratio(r, "b", "none") == 1.0
    assert ratio(r, "c", "none") == 1.0 and ratio(r, "c", "l2") == 1.0


def test_higher_is_better_inverts_and_negative_values_leave_the_task_out(tmp_path):
    summ, _ = runs_of(tmp_path, {"a": {"none": {0: 0.8}, "l2": {0: 0.4}}}, hib=True)
    r = performance_ratios(summ)
    assert ratio(r, "a", "l2") == pytest.approx(2.0) and ratio(r, "a", "none") == 1.0
    (tmp_path / "neg").mkdir()
    bad, runs = runs_of(tmp_path / "neg", {"a": {"none": {0: -0.1}, "l2": {0: 0.4}},
                                           "b": {"none": {0: 0.5}, "l2": {0: 0.4}}}, hib=True)
    r = performance_ratios(bad)
    assert np.isnan(ratio(r, "a", "l2")) and ratio(r, "b", "l2") == pytest.approx(0.5 / 0.4)
    curves = profile_curves(r, taus=np.array([1.0]))
    assert (curves["n_problems"] == 1).all()  # only b is profiled
    note = rank_table(bad, runs, "test_at_best_val")["note"].iloc[0]
    assert "no performance ratio (negative values) on a" in note


def test_profile_counts_a_missing_method_as_never_solved(tmp_path):
    summ, _ = runs_of(tmp_path, {"a": {"none": {0: 0.2}, "l2": {0: 0.1}}, "b": {"none": {0: 0.3}}})
    curves = profile_curves(performance_ratios(summ), taus=np.array([1.0, 2.0, 10.0]))
    rho = curves.set_index(["method", "tau"])["rho"]
    assert rho[("l2", 1.0)] == 0.5 and rho[("l2", 10.0)] == 0.5  # l2 never ran b
    assert rho[("none", 1.0)] == 0.5 and rho[("none", 2.0)] == 1.0
    assert (curves["n_problems"] == 2).all()


def test_mean_ranks_and_wins_ties_losses(tmp_path):
    table = {task: {"none": {0: 0.30 + off, 1: 0.35 + off, 2: 0.28 + off},
                    "otdd-exact": {0: 0.20 + off, 1: 0.26 + off, 2: 0.17 + off},
                    "l2": {0: 0.31 + off, 1: 0.33 + off, 2: 0.30 + off}}
             for task, off in (("a", 0.0), ("b", 0.1))}
    table["b"]["l2"] = {0: 0.50, 1: 0.52, 2: 0.49}  # clearly worse than none on b
    summ, runs = runs_of(tmp_path, table)
    ranks = rank_table(summ, runs, "test_at_best_val").set_index("method")
    # means on a: otdd 0.21 < none 0.31 < l2 0.3133; on b l2 is worst too
    assert ranks.loc["otdd-exact", "mean_rank"] == 1.0 and ranks.loc["l2", "mean_rank"] == 3.0
    assert ranks.loc["none", "mean_rank"] == 2.0
    assert (ranks.loc["otdd-exact", ["wins_vs_none", "ties_vs_none", "losses_vs_none"]] == [2, 0, 0]).all()
    assert (ranks.loc["l2", ["wins_vs_none", "ties_vs_none", "losses_vs_none"]] == [0, 1, 1]).all()
    assert ranks["wins_vs_xgboost"].isna().all() and ranks["note"].iloc[0] == "xgboost not in this table"
    md = across_markdown(ranks.reset_index())
    assert "W/T/L vs none" in md and "W/T/L vs xgboost" not in md and "Skipped: xgboost not in this table" in md
    assert r"\begin{table}" in across_latex(ranks.reset_index(), "t")
