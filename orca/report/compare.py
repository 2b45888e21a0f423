"""Per-cell statistics of a summary: intervals, the paired comparison with a reference, the bold rule.

``add_statistics(summ, runs, score, reference)`` adds to ``aggregate.summarise``'s rows:

- ``ci95_t_low``, ``ci95_t_high``: the 95% t interval of the mean over seeds (``stats.t_interval``);
  empty for one seed.
- ``paired_reference``, ``paired_diff``, ``paired_ci95_t_low``, ``paired_ci95_t_high``, ``paired_n``,
  ``paired_verdict``: ``method - reference`` paired by seed within the same task and backbone
  (``stats.paired_difference``); empty for the reference itself and where it is absent. A classical
  baseline (no backbone) is paired with the reference only when its task has one backbone.
- ``tied_with_best`` (the bold rule): the best mean of its task and backbone, or a paired 95% t
  interval of ``row - best`` over their shared seeds (at least two) that contains 0. A row that
  shares fewer than two seeds with the best cannot be told apart from it by a test, and is not bold.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .groups import GROUP_KEYS, competition_groups
from .stats import paired_difference, t_interval

__all__ = ["STAT_COLUMNS", "seed_scores", "add_statistics", "BOLD_RULE"]

STAT_COLUMNS = ["ci95_t_low", "ci95_t_high", "paired_reference", "paired_diff", "paired_ci95_t_low",
                "paired_ci95_t_high", "paired_n", "paired_verdict", "tied_with_best"]

BOLD_RULE = ("Bold = the best mean of its task and backbone, and every method whose paired 95% t interval "
             "of the difference to the best (same seeds, at least two) contains 0; with one seed only the best mean")


def seed_scores(runs: pd.DataFrame, score: str) -> dict[tuple, pd.Series]:
    """(table, task, backbone, method) -> per-seed scores (index = seed, sorted)."""
    return {key: g.set_index("seed")[score].astype(float).sort_index()
            for key, g in runs.groupby(GROUP_KEYS, sort=False, dropna=False)}


def _key(row: pd.Series) -> tuple:
    return tuple(row[k] for k in GROUP_KEYS)


def _reference_rows(summ: pd.DataFrame, reference: str) -> dict[int, int]:
    """Row index -> index of the reference row it is paired with (same task and backbone group)."""
    pairs: dict[int, int] = {}
    groups = competition_groups(summ)
    per_task = pd.Series([(g[0], g[1]) for g in groups]).value_counts()
    for table, task, _, idx in groups:
        refs = [i for i in idx if summ.at[i, "method"] == reference]
        if len(refs) != 1:
            continue
        for i in idx:
            if i == refs[0]:
                continue
            shared_by_backbones = summ.at[i, "backbone"] != summ.at[refs[0], "backbone"]
            if shared_by_backbones and per_task[(table, task)] > 1:
                continue  # a baseline beside several backbones: which reference is ambiguous
            pairs[i] = refs[0]
    return pairs


def tied_with_best(summ: pd.DataFrame, scores: dict) -> pd.Series:
    tied = pd.Series(False, index=summ.index)
    for _, _, _, idx in competition_groups(summ):
        g = summ.loc[idx]
        hib = bool(g["higher_is_better"].iloc[0])
        best_i = g["mean"].idxmax() if hib else g["mean"].idxmin()
        best = scores[_key(summ.loc[best_i])]
        for i in idx:
            same_mean = math.isclose(summ.at[i, "mean"], summ.at[best_i, "mean"], rel_tol=1e-12, abs_tol=0.0)
            test = paired_difference(scores[_key(summ.loc[i])], best, hib)
            if same_mean or test.verdict == "tie":
                tied.at[i] = True
    return tied


def add_statistics(summ: pd.DataFrame, runs: pd.DataFrame, score: str, reference: str = "none") -> pd.DataFrame:
    """``summ`` with :data:`STAT_COLUMNS` (see the module docstring). ``runs``: ``load_runs`` rows."""
    out = summ.copy()
    scores = seed_scores(runs, score)
    bounds = [t_interval(scores[_key(r)].to_numpy()) for _, r in out.iterrows()]
    out["ci95_t_low"] = [b[0] for b in bounds]
    out["ci95_t_high"] = [b[1] for b in bounds]
    for c in ("paired_diff", "paired_ci95_t_low", "paired_ci95_t_high"):
        out[c] = np.nan
    out["paired_reference"], out["paired_n"], out["paired_verdict"] = "", 0, ""
    for i, j in _reference_rows(out, reference).items():
        p = paired_difference(scores[_key(out.loc[i])], scores[_key(out.loc[j])], bool(out.at[i, "higher_is_better"]))
        out.loc[i, ["paired_reference", "paired_diff", "paired_ci95_t_low", "paired_ci95_t_high", "paired_n",
                    "paired_verdict"]] = [reference, p.diff, p.low, p.high, p.n, p.verdict]
    out["paired_n"] = out["paired_n"].astype(int)
    out["tied_with_best"] = tied_with_best(out, scores)
    return out
