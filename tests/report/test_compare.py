"""Per-cell statistics of a summary (orca/report/compare.py): intervals, pairing with none, the bold rule."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from orca.report.aggregate import load_runs, summarise

T_975_DF2 = 4.302652729911275


def write(root: Path, task, method, seed, value, backbone="minilm-l6", hib=False):
    run = {"table": "t", "task": task, "backbone": backbone, "method": method, "seed": seed,
           "metric": "m", "higher_is_better": hib, "settings_hash": "h",
           "scores": {"test_at_best_val": value}}
    p = root / f"{task}-{backbone}-{method}-{seed}.json"
    p.write_text(json.dumps(run))
    return p


def summary(tmp_path, values: dict, hib=False, task="a"):
    paths = [write(tmp_path, task, m, s, v, backbone="-" if m == "xgboost" else "minilm-l6", hib=hib)
             for m, vals in values.items() for s, v in vals.items()]
    return summarise(load_runs(paths)).set_index("method")


def test_interval_and_pairing_columns(tmp_path):
    s = summary(tmp_path, {"none": {0: 0.30, 1: 0.35, 2: 0.28}, "otdd-exact": {0: 0.20, 1: 0.26, 2: 0.17},
                           "l2": {0: 0.31, 1: 0.33, 2: 0.30}})
    r = s.loc["otdd-exact"]
    v = np.array([0.20, 0.26, 0.17])
    half = T_975_DF2 * v.std(ddof=1) / math.sqrt(3)
    assert (r["ci95_t_low"], r["ci95_t_high"]) == (pytest.approx(v.mean() - half), pytest.approx(v.mean() + half))
    d = v - np.array([0.30, 0.35, 0.28])
    assert r["paired_reference"] == "none" and r["paired_n"] == 3
    assert r["paired_diff"] == pytest.approx(d.mean()) and r["paired_verdict"] == "better"
    assert s.loc["l2", "paired_verdict"] == "tie"
    assert s.loc["none", "paired_reference"] == "" and math.isnan(s.loc["none", "paired_diff"])


def test_bold_rule_marks_what_cannot_be_told_apart_from_the_best(tmp_path):
    s = summary(tmp_path, {"none": {0: 0.30, 1: 0.35, 2: 0.28},        # clearly worse than the best
                           "otdd-exact": {0: 0.20, 1: 0.26, 2: 0.17},  # the best mean
                           "l2": {0: 0.22, 1: 0.24, 2: 0.19},          # paired diff to best contains 0
                           "mmd": {0: 0.23}})                          # one seed: cannot be tested
    assert bool(s.loc["otdd-exact", "best"]) and bool(s.loc["otdd-exact", "tied_with_best"])
    assert bool(s.loc["l2", "tied_with_best"]) and not bool(s.loc["l2", "best"])
    assert not bool(s.loc["none", "tied_with_best"]) and not bool(s.loc["mmd", "tied_with_best"])


def test_higher_is_better_flips_the_verdict(tmp_path):
    s = summary(tmp_path, {"none": {0: 0.30, 1: 0.35, 2: 0.28}, "otdd-exact": {0: 0.20, 1: 0.26, 2: 0.17}}, hib=True)
    assert s.loc["otdd-exact", "paired_verdict"] == "worse"
    assert bool(s.loc["none", "tied_with_best"]) and not bool(s.loc["otdd-exact", "tied_with_best"])


def test_baseline_without_backbone_is_paired_with_none(tmp_path):
    s = summary(tmp_path, {"none": {0: 0.30, 1: 0.35, 2: 0.28}, "xgboost": {0: 0.10, 1: 0.11, 2: 0.12}})
    assert s.loc["xgboost", "paired_reference"] == "none" and s.loc["xgboost", "paired_verdict"] == "better"


def test_no_reference_in_the_table_leaves_the_columns_empty(tmp_path):
    s = summary(tmp_path, {"l2": {0: 0.30, 1: 0.35}, "mmd": {0: 0.2, 1: 0.3}})
    assert (s["paired_reference"] == "").all() and s["paired_diff"].isna().all()
