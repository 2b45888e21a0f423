"""Across the tasks of one table: Dolan-Moré performance profiles, mean ranks, win/tie/loss counts.

A *problem* is one task and backbone (``aggregate.competition_groups``); a *solver* is a method.

Performance ratio (Dolan & Moré 2002, as NAS-Bench-360 reports them): per problem, the method's mean
over seeds divided by the best method's, so 1 = best and larger = worse. For a loss (lower is better)
``r = max(loss, floor) / max(best, floor)``; for a score where higher is better the ratio is inverted,
``r = max(best, floor) / max(score, floor)``. ``floor`` = ``FLOOR_FRACTION`` x the largest value on that
problem: a loss of exactly 0 (e.g. 1 - AUROC on an easy task) would otherwise make every other
method's ratio infinite. A problem whose values are all 0 gives every method r = 1. Ratios need
non-negative values: a task with a negative mean (possible only for a signed score, e.g. R^2; every
metric in ``orca.evaluation.metrics`` is a non-negative loss) gets no ratios, is left out of the profile and is
named in ``rank_table``'s note. ``rho(tau)`` = share of the table's problems on which the method's ratio is <= tau; a
method missing on a problem counts as never solving it.

Mean rank: per problem, rank 1 = best mean (ties share the average rank), averaged over the problems
the method ran. Win/tie/loss against a reference method (``none``, ``xgboost``): per problem, the
verdict of the paired 95% t interval of ``method - reference`` over shared seeds (``stats``);
``untested`` counts problems with fewer than two shared seeds. A reference absent from the table gives
empty counts and the note "<reference> not in this table".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .groups import GROUP_KEYS, competition_groups
from .compare import seed_scores
from .stats import paired_difference

__all__ = ["FLOOR_FRACTION", "REFERENCES", "performance_ratios", "profile_curves", "rank_table",
           "across_markdown", "across_latex"]

FLOOR_FRACTION = 1e-2
REFERENCES = ("none", "xgboost")
PROFILE_NOTE = (f"Performance profile (Dolan-Moré): ratio of each method's mean to the best mean per task and "
                f"backbone (inverted when higher is better), values floored at {FLOOR_FRACTION:g} x the task's "
                f"largest; rho(tau) = share of tasks with ratio <= tau (a missing method never counts).")


def _problem_ratios(g: pd.DataFrame) -> pd.Series:
    vals = g["mean"].astype(float)
    if (vals < 0).any():  # a ratio of signed values means nothing: this task has no ratios (see rank_table's note)
        return pd.Series(np.nan, index=g.index)
    top = vals.max()
    if top == 0:
        return pd.Series(1.0, index=g.index)
    v = vals.clip(lower=FLOOR_FRACTION * top)
    if bool(g["higher_is_better"].iloc[0]):
        return v.max() / v
    return v / v.min()


def performance_ratios(summ: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, method): table, task, backbone, method, ratio (>= 1), rank (1 = best)."""
    rows = []
    for table, task, backbone, idx in competition_groups(summ):
        g = summ.loc[idx]
        ratio = _problem_ratios(g)
        rank = g["mean"].rank(ascending=not bool(g["higher_is_better"].iloc[0]), method="average")
        for i in idx:
            rows.append({"table": table, "task": task, "backbone": backbone, "method": summ.at[i, "method"],
                         "ratio": float(ratio[i]), "rank": float(rank[i])})
    return pd.DataFrame(rows, columns=["table", "task", "backbone", "method", "ratio", "rank"])


def profile_curves(ratios: pd.DataFrame, taus: np.ndarray | None = None) -> pd.DataFrame:
    """rho(tau) per method on a grid of tau (default: 1 and every observed ratio, plus 10% beyond the largest).

    Columns: method, tau, rho, n_problems.
    """
    ratios = ratios[ratios["ratio"].notna()]
    problems = ratios[["task", "backbone"]].drop_duplicates()
    n = len(problems)
    if taus is None:
        observed = np.unique(ratios["ratio"].to_numpy())
        taus = np.unique(np.concatenate([[1.0], observed, [observed.max() * 1.1 if len(observed) else 1.1]]))
    rows = []
    for method, g in ratios.groupby("method", sort=True):
        r = g["ratio"].to_numpy()
        for tau in taus:
            rows.append({"method": method, "tau": float(tau), "rho": float((r <= tau).sum() / n), "n_problems": n})
    return pd.DataFrame(rows, columns=["method", "tau", "rho", "n_problems"])


def _wtl(summ: pd.DataFrame, runs: pd.DataFrame, score: str, reference: str) -> dict[str, dict]:
    """method -> {wins, ties, losses, untested} against ``reference`` over the table's problems."""
    scores = seed_scores(runs, score)
    counts: dict[str, dict] = {}
    for _, _, _, idx in competition_groups(summ):
        g = summ.loc[idx]
        refs = g[g["method"] == reference]
        if len(refs) != 1:
            continue
        ref = scores[tuple(refs.iloc[0][k] for k in GROUP_KEYS)]
        for _, r in g[g["method"] != reference].iterrows():
            p = paired_difference(scores[tuple(r[k] for k in GROUP_KEYS)], ref, bool(r["higher_is_better"]))
            c = counts.setdefault(r["method"], {"wins": 0, "ties": 0, "losses": 0, "untested": 0})
            c[{"better": "wins", "worse": "losses", "tie": "ties", "": "untested"}[p.verdict]] += 1
    return counts


def rank_table(summ: pd.DataFrame, runs: pd.DataFrame, score: str, references=REFERENCES) -> pd.DataFrame:
    """Per method: n_problems, mean_rank, and wins/ties/losses/untested against each reference
    (columns ``wins_vs_<ref>`` ...; ``note`` says which references are not in the table)."""
    ratios = performance_ratios(summ)
    out = ratios.groupby("method", sort=True).agg(n_problems=("rank", "size"), mean_rank=("rank", "mean"))
    out = out.reset_index().sort_values(["mean_rank", "method"], kind="stable").reset_index(drop=True)
    present = set(summ["method"])
    notes = []
    for ref in references:
        cols = [f"{k}_vs_{ref}" for k in ("wins", "ties", "losses", "untested")]
        if ref not in present:
            notes.append(f"{ref} not in this table")
            for c in cols:
                out[c] = pd.NA
            continue
        counts = _wtl(summ, runs, score, ref)
        for k, c in zip(("wins", "ties", "losses", "untested"), cols):
            out[c] = [counts[m][k] if m in counts else pd.NA for m in out["method"]]
    unrated = sorted(ratios.loc[ratios["ratio"].isna(), "task"].unique())
    if unrated:
        notes.append(f"no performance ratio (negative values) on {', '.join(unrated)}")
    out["note"] = "; ".join(notes)
    return out


def _wtl_text(r: pd.Series, ref: str) -> str:
    if pd.isna(r.get(f"wins_vs_{ref}")):
        return ""
    text = "/".join(str(int(r[f"{k}_vs_{ref}"])) for k in ("wins", "ties", "losses"))
    untested = int(r[f"untested_vs_{ref}"])
    return text + (f" (+{untested} untested)" if untested else "")


def across_rows(ranks: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Headers and text rows of the across-tasks table (one W/T/L column per reference present)."""
    refs = [c[len("wins_vs_"):] for c in ranks.columns if c.startswith("wins_vs_") and ranks[c].notna().any()]
    headers = ["Method", "Tasks", "Mean rank"] + [f"W/T/L vs {r}" for r in refs]
    rows = [[r["method"], str(int(r["n_problems"])), f"{r['mean_rank']:.2f}"] + [_wtl_text(r, ref) for ref in refs]
            for _, r in ranks.iterrows()]
    return headers, rows


def across_markdown(ranks: pd.DataFrame) -> str:
    from tabulate import tabulate

    headers, rows = across_rows(ranks)
    note = ranks["note"].iloc[0] if len(ranks) and ranks["note"].iloc[0] else ""
    return "\n".join([
        "## Across tasks", "", tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), "",
        "Mean rank: 1 = best mean on a task (ties share the rank). W/T/L: tasks where the paired 95% t interval "
        "of the difference to the reference (same seeds) lies on the good side of 0 / contains 0 / lies on the "
        "bad side; untested = fewer than two shared seeds." + (f" Skipped: {note}." if note else ""),
        "", PROFILE_NOTE, ""])


def across_latex(ranks: pd.DataFrame, table: str) -> str:
    from .tables import tex_escape

    headers, rows = across_rows(ranks)
    body = [" & ".join(tex_escape(c) for c in row) + r" \\" for row in rows]
    note = ranks["note"].iloc[0] if len(ranks) and ranks["note"].iloc[0] else ""
    caption = tex_escape(f"{table}, across tasks: mean rank (1 = best) and win/tie/loss counts by the paired 95% t "
                         "interval over shared seeds." + (f" Skipped: {note}." if note else ""))
    label = "".join(ch if ch.isalnum() or ch in ":_-" else "-" for ch in table)
    return "\n".join([r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}", rf"\label{{tab:{label}-ranks}}",
                      r"\small", r"\begin{tabular}{l" + "r" * (len(headers) - 1) + "}", r"\toprule",
                      " & ".join(tex_escape(h) for h in headers) + r" \\", r"\midrule", *body, r"\bottomrule",
                      r"\end{tabular}", r"\end{table}", ""])
