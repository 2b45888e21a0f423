"""A table's questions, answered from its own runs: "does alignment help?" as ``method`` vs ``reference``.

A table's config lists them (``questions: [{question, method, reference}]``). Each is answered per task,
backbone and protocol by the paired difference ``method - reference`` over their shared seeds
(``stats.paired_difference``: mean and 95% t interval, direction-aware verdict), and in one line over the
table's tasks: better on k, tied on t, worse on w, untested on u (fewer than two shared seeds or a missing
method). The answer is the runs' and nothing else: a question none of whose tasks has both methods says so.
"""
from __future__ import annotations

import pandas as pd
from tabulate import tabulate

from .compare import seed_scores
from .groups import GROUP_KEYS, competition_groups
from .stats import INTERVAL_NAME, paired_difference
from .tables import fmt_num, tex_escape

__all__ = ["QUESTION_COLUMNS", "answer_questions", "questions_markdown", "questions_latex"]

QUESTION_COLUMNS = ["question", "method", "reference", "task", "task_title", "backbone", "protocol", "metric",
                    "higher_is_better", "n", "diff", "low", "high", "verdict"]
VERDICT_WORDS = {"better": "better", "worse": "worse", "tie": "tied", "": "untested"}


def answer_questions(summ: pd.DataFrame, runs: pd.DataFrame, score: str, questions: list[dict]) -> pd.DataFrame:
    """One row per question x task x backbone x protocol where the table ran the question's methods
    (:data:`QUESTION_COLUMNS`); ``summ``: ``aggregate.summarise`` rows, ``runs``: ``load_runs`` rows."""
    scores = seed_scores(runs, score)
    rows = []
    for q in questions:
        for _, task, backbone, idx in competition_groups(summ):
            g = summ.loc[idx]
            m, r = g[g["method"] == q["method"]], g[g["method"] == q["reference"]]
            if len(m) != 1 or len(r) != 1:
                continue
            m, r = m.iloc[0], r.iloc[0]
            hib = bool(m["higher_is_better"])
            p = paired_difference(scores[tuple(m[k] for k in GROUP_KEYS)], scores[tuple(r[k] for k in GROUP_KEYS)],
                                  hib)
            rows.append({"question": q["question"], "method": q["method"], "reference": q["reference"], "task": task,
                         "task_title": m.get("task_title", task), "backbone": backbone or m["backbone"],
                         "protocol": m.get("protocol", "clean"), "metric": m.get("metric_display", m["metric"]),
                         "higher_is_better": hib, "n": p.n, "diff": p.diff, "low": p.low, "high": p.high,
                         "verdict": p.verdict})
    return pd.DataFrame(rows, columns=QUESTION_COLUMNS)


def answer_line(df: pd.DataFrame, question: dict) -> str:
    """The one-line answer of ``question`` over its rows of ``df``."""
    rows = df[df["question"] == question["question"]]
    head = f"**{question['question']}** `{question['method']}` vs `{question['reference']}`: "
    if rows.empty:
        return head + "no task of this table ran both."
    counts = rows["verdict"].map(VERDICT_WORDS).value_counts()
    parts = [f"{word} on {int(counts[word])}" for word in ("better", "tied", "worse", "untested") if word in counts]
    if rows["task"].is_unique:
        unit = "task" if len(rows) == 1 else "tasks"
    else:  # a task run on several backbones or under both protocols answers once for each
        unit = "cell (task, backbone, protocol)" if len(rows) == 1 else "cells (task, backbone, protocol)"
    return head + ", ".join(parts) + f" of {len(rows)} {unit}."


def questions_markdown(df: pd.DataFrame, questions: list[dict]) -> str:
    """The Questions section: each question's one-line answer, then its per-task paired differences."""
    lines = ["", "## Questions", "",
             f"Each answer compares two methods task by task: the paired difference method − reference over the "
             f"seeds both ran ({INTERVAL_NAME}); better / worse when the interval excludes 0 on that side (the "
             "metric's direction), tied when it contains 0, untested with fewer than two shared seeds.", ""]
    for q in questions:
        lines += [answer_line(df, q), ""]
        rows = df[df["question"] == q["question"]]
        if rows.empty:
            continue
        body = [[r["task_title"], r["backbone"], r["protocol"], r["metric"] + (" ↑" if r["higher_is_better"] else " ↓"),
                 fmt_num(r["diff"]), _interval(r), r["n"], VERDICT_WORDS[r["verdict"]]] for _, r in rows.iterrows()]
        lines += [tabulate(body, headers=["Task", "Backbone", "Protocol", "Metric", "Δ mean", "95% t interval",
                                          "Seeds", "Answer"], tablefmt="github", disable_numparse=True), ""]
    return "\n".join(lines)


def questions_latex(df: pd.DataFrame, questions: list[dict], table: str) -> str:
    """The same answers as a LaTeX itemize (one line per question)."""
    items = "\n".join(r"  \item " + tex_escape(answer_line(df, q).replace("**", "").replace("`", ""))
                      for q in questions)
    return (f"% questions of table {tex_escape(table)}: paired differences over seeds ({INTERVAL_NAME})\n"
            "\\begin{itemize}\n" + items + "\n\\end{itemize}\n")


def _interval(r) -> str:
    if pd.isna(r["low"]):
        return "–"
    return f"[{fmt_num(r['low'], 3)}, {fmt_num(r['high'], 3)}]"
