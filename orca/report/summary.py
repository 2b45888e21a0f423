"""Average improvement of each method over a reference method (e.g. XGBoost), per group of tasks.

The paper summarises its OpenML results as "average improvement over XGBoost". Here, from our own
runs: per dataset, ``gain = score(method) - score(reference)``, each the mean over seeds; then the
mean of ``gain`` over the datasets of a group where both have results (``n_datasets``). Scores are
stored as losses (lower is better, e.g. ``1 - AUROC``), so ``gain = loss(reference) - loss(method)``
(= AUROC(method) - AUROC(reference)); for a higher-is-better metric ``gain = method - reference``.
Positive = better than the reference, in the units of the task's metric (AUROC: fraction; 0-1
error in %: accuracy percentage points).

The groups come from the table's config entry (``summary: {improvement_over, groups}``); each names
the published.csv table whose summary rows are put beside ours. A paper row is compared (``diff``)
only when its metric text equals our improvement label; other paper rows are listed on their own.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .aggregate import DEFAULT_METHOD_MAP, NO_BACKBONE, finite
from .tables import fmt_num, tex_escape

__all__ = ["SUMMARY_TABLE_COLUMNS", "build_summary", "improvement_label", "summary_latex", "summary_markdown"]

SUMMARY_TABLE_COLUMNS = [
    "table", "group", "group_title", "published_table", "backbone", "method", "reference", "metric",
    "improvement_label", "mean_improvement", "n_datasets", "n_group_tasks", "datasets_used",
    "datasets_missing", "published_method", "published_metric", "published_value", "published_note",
    "diff_vs_published", "row_kind",
]

# our loss metric -> (the quantity it is the complement of, units suffix of the improvement)
POSITIVE_FORM: dict[str, tuple[str, str]] = {
    "one_minus_auroc": ("AUROC", ""),
    "one_minus_auroc_multilabel": ("AUROC", ""),
    "one_minus_auroc_pixel": ("AUROC", ""),
    "one_minus_macro_f1": ("macro F1", ""),
    "one_minus_map": ("mAP", ""),
    "one_minus_r2": ("R^2", ""),
    "zero_one_error_pct": ("accuracy", " (percentage points)"),
}
REFERENCE_NAMES = {"xgboost": "XGBoost", "logistic-regression": "logistic regression"}
# our method -> the paper's method name in the summary rows of published.csv
SUMMARY_METHOD_MAP = {**DEFAULT_METHOD_MAP, "logistic-regression": "Logistic regression"}
UNCERTAIN_NOTE = "uncertain (read off a chart)"


def improvement_label(metric: str, display: str, higher_is_better: bool, reference: str) -> str:
    """What the mean gain measures, worded like published.csv, e.g. 'mean AUROC improvement over XGBoost'."""
    ref = REFERENCE_NAMES.get(reference, reference)
    if metric in POSITIVE_FORM:
        name, units = POSITIVE_FORM[metric]
        return f"mean {name} improvement over {ref}{units}"
    word = "improvement over" if higher_is_better else "reduction vs"
    return f"mean {display} {word} {ref}"


def _gains(runs: pd.DataFrame, backbone: str, method: str, reference: str) -> pd.Series:
    """Per-task gain of (backbone, method) over ``reference`` (positive = better); tasks where
    either is missing are left out. ``runs``: summarise() rows of one group."""
    mine = runs[(runs.backbone == backbone) & (runs.method == method)].set_index("task")
    ref_rows = runs[(runs.method == reference)
                    & (runs.backbone.astype(str).isin(NO_BACKBONE) | (runs.backbone == backbone))]
    ref = ref_rows.drop_duplicates("task").set_index("task")
    both = mine.index.intersection(ref.index)
    diff = mine.loc[both, "mean"] - ref.loc[both, "mean"]
    return diff.where(mine.loc[both, "higher_is_better"], -diff)


def _group_metric(runs: pd.DataFrame, group: str) -> tuple[str, str, bool] | None:
    """(metric, display, higher_is_better) shared by the group's runs; None without runs."""
    kinds = runs[["metric", "metric_display", "higher_is_better"]].drop_duplicates()
    if kinds.empty:
        return None
    if kinds["metric"].nunique() > 1:
        raise ValueError(f"summary group {group!r} mixes metrics {sorted(kinds.metric.unique())}: "
                         "an average improvement needs one metric")
    return tuple(kinds.iloc[0])


def _our_rows(summ: pd.DataFrame, pairs: list, head: dict, tasks: list[str], reference: str) -> list[dict]:
    """One row per (backbone, method) in ``pairs`` for one group; no common dataset -> n = 0, empty mean."""
    runs = summ[summ.task.isin(tasks)]
    kind = _group_metric(runs, head["group"])
    label = improvement_label(*kind, reference) if kind else ""
    rows = []
    for backbone, method in pairs:
        gains = _gains(runs, backbone, method, reference)
        rows.append({
            **head, "backbone": backbone, "method": method, "metric": kind[0] if kind else "",
            "improvement_label": label, "mean_improvement": float(gains.mean()) if len(gains) else np.nan,
            "n_datasets": len(gains), "datasets_used": ",".join(t for t in tasks if t in gains.index),
            "datasets_missing": ",".join(t for t in tasks if t not in gains.index),
            "published_method": "", "published_metric": "", "published_value": np.nan, "published_note": "",
            "diff_vs_published": np.nan, "row_kind": "run",
        })
    return rows


def _paper_note(p: pd.Series) -> str:
    if not finite(p["value"]):
        return f"paper reports {p['value_raw'] or 'no number'}"
    return UNCERTAIN_NOTE if p["uncertain"] else ""


def _paper_rows(rows: list[dict], head: dict, pubs: pd.DataFrame) -> list[dict]:
    """Fill the paper columns of our ``rows`` (same paper method, same measure) in place and return
    every other paper row of the group (``pubs``) as a row with empty ours."""
    used = set()
    for r in rows:
        pm = SUMMARY_METHOD_MAP.get(r["method"])
        same = pubs[(pubs.method == pm) & (pubs.metric == r["improvement_label"])]
        if len(same):
            p = same.iloc[0]
            used.add(p.name)
            r.update(published_method=pm, published_metric=p["metric"], published_value=p["value"],
                     published_note=_paper_note(p), diff_vs_published=r["mean_improvement"] - p["value"])
        elif (pubs.method == pm).any():
            r.update(published_method=pm, published_note="paper's number is in another measure (own row)")
    blank = dict.fromkeys(SUMMARY_TABLE_COLUMNS, "")
    return [{**blank, **head, "mean_improvement": np.nan, "n_datasets": 0, "published_method": p["method"],
             "published_metric": p["metric"], "published_value": p["value"], "published_note": _paper_note(p),
             "diff_vs_published": np.nan, "row_kind": "published_only"}
            for j, p in pubs.iterrows() if j not in used]


def build_summary(summ: pd.DataFrame, table: str, spec: dict, published: pd.DataFrame | None) -> pd.DataFrame:
    """Average improvement over ``spec['improvement_over']`` per group x (backbone, method).

    ``summ``: ``aggregate.summarise`` rows of this table (one per task x backbone x method, ``mean``
    over seeds of a loss or score). ``spec``: ``{"improvement_over": method, "groups": {name:
    {"tasks": [...], "title": str, "published_table": str}}}``. ``published``: ``load_published``
    or None. Per group: our rows, then the paper rows no run row matched. Columns:
    :data:`SUMMARY_TABLE_COLUMNS`.
    """
    reference = spec["improvement_over"]
    pairs = summ.loc[summ.method != reference, ["backbone", "method"]].drop_duplicates()
    pairs = list(pairs.sort_values(["backbone", "method"]).itertuples(index=False))
    out = []
    for group, g in spec["groups"].items():
        head = {"table": table, "group": group, "group_title": g.get("title", group),
                "published_table": g.get("published_table", ""), "reference": reference,
                "n_group_tasks": len(g["tasks"])}
        rows = _our_rows(summ, pairs, head, list(g["tasks"]), reference)
        if published is not None:
            rows += _paper_rows(rows, head, published[published.table == head["published_table"]])
        out += rows
    return pd.DataFrame(out, columns=SUMMARY_TABLE_COLUMNS)


# ----------------------------------------------------------------------------- rendering
def _signed(x) -> str:
    return f"{float(x):+.4g}" if finite(x) else ""


def _cells(r: pd.Series) -> list[str]:
    """Ours, n, paper method, paper, ours - paper, note (text cells; ours and the difference signed)."""
    ran = r["row_kind"] == "run"
    n = f"{r['n_datasets']}/{r['n_group_tasks']}" if ran else ""
    paper = fmt_num(r["published_value"]) if r["published_metric"] else ""
    return [_signed(r["mean_improvement"]), n, str(r["published_method"]), paper,
            _signed(r["diff_vs_published"]), str(r["published_note"])]


def _explanation(reference: str) -> str:
    ref = REFERENCE_NAMES.get(reference, reference)
    return (f"Per dataset: our method's score minus {ref}'s, each the mean over seeds, in the task metric's "
            f"own units (losses such as 1 - AUROC converted back, AUROC = 1 - (1 - AUROC)); positive = better "
            f"than {ref}. Mean over the datasets of the group where both have results (n = used/in group). "
            "Paper numbers: published.csv summary rows; the bars are digitized from a chart (uncertain). "
            "Ours − paper only where the measure is the same.")


def summary_markdown(df: pd.DataFrame, reference: str) -> str:
    """A Markdown section: one row per summary row."""
    from tabulate import tabulate

    rows = [[r["group_title"], r["backbone"], r["method"], r["improvement_label"] or r["published_metric"],
             *_cells(r)] for _, r in df.iterrows()]
    headers = ["Group", "Backbone", "Method", "Measure", "Ours", "n", "Paper method", "Paper",
               "Ours − paper", "Note"]
    ref = REFERENCE_NAMES.get(reference, reference)
    return "\n".join([f"## Average improvement over {ref}", "",
                      tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), "",
                      _explanation(reference), ""])


def summary_latex(df: pd.DataFrame, table: str, reference: str) -> str:
    """A second booktabs table: the summary rows; $^\\ast$ marks paper numbers read off a chart."""
    body, prev = [], None
    for _, r in df.iterrows():
        if prev is not None and r["group"] != prev:
            body.append(r"\midrule")
        prev = r["group"]
        ours, n, pm, paper, diff, note = _cells(r)
        if paper and "uncertain" in note:
            paper += r"$^\ast$"
        measure = r["improvement_label"] or r["published_metric"]
        body.append(" & ".join([tex_escape(r["group_title"]), tex_escape(r["backbone"]), tex_escape(r["method"]),
                                tex_escape(measure), ours, n, tex_escape(pm), paper, diff]) + r" \\")
    ref = REFERENCE_NAMES.get(reference, reference)
    caption = tex_escape(f"{table}: average improvement over {ref}. " + _explanation(reference)) + \
        r" $^\ast$ = read off a chart (uncertain)."
    label = "".join(ch if ch.isalnum() or ch in ":_-" else "-" for ch in table)
    return "\n".join([
        r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}", rf"\label{{tab:{label}-summary}}",
        r"\small", r"\begin{tabular}{llllrrlrr}", r"\toprule",
        r"Group & Backbone & Method & Measure & Ours & $n$ & Paper method & Paper & Ours $-$ paper \\",
        r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}", "",
    ])
