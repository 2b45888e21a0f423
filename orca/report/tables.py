"""Render a summary (``aggregate.SUMMARY_COLUMNS``) as CSV, GitHub Markdown and booktabs LaTeX.

Renderers return text; ``orca.report.build_report`` writes it atomically.
"""
from __future__ import annotations

import math
import os
import re

import pandas as pd
from tabulate import tabulate

from .aggregate import finite, protocol_comparison

__all__ = ["fmt_num", "to_csv_text", "to_markdown", "to_latex", "caption_text"]

SCORE_WORDS = {
    "test_at_best_val": "test score at the best-validation epoch",
    "test_last_epoch": "test score at the last epoch",
    "best_val": "best validation score",
    "best_epoch": "epoch of the best validation score",
    "test_best_epoch_original": "best test score over epochs (the released code's test-selected epoch)",
    "selected": "each protocol's reported score (clean: test score at the best-validation epoch; original: "
                "best test score over epochs)",
}


def fmt_num(x, digits: int = 4) -> str:
    """Compact number with ``digits`` significant digits (``%g`` style); '' for NaN/None."""
    if not finite(x):
        return ""
    return f"{float(x):.{digits}g}"


def _s(x) -> str:
    """Text cell: '' for None/NaN."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _mean_std(r, pm: str) -> str:
    if not finite(r["mean"]):
        return ""
    s = fmt_num(r["mean"])
    if finite(r["std"]):
        s += f"{pm}{fmt_num(r['std'], 2)}"
    return s


def _has_published(summ: pd.DataFrame) -> bool:
    return bool(summ["published_value"].notna().any() or summ["row_kind"].eq("published_only").any())


def to_csv_text(summ: pd.DataFrame) -> str:
    """The summary as CSV text (full float precision)."""
    return summ.to_csv(index=False, float_format="%.10g")


def caption_text(summ: pd.DataFrame) -> dict:
    """Facts for captions: score words, seeds, commits, run-files folder, dirty flag."""
    ours = summ[summ["row_kind"] == "run"]
    commits = sorted({c for cs in ours["git_commits"] for c in str(cs).split("+") if c})
    seeds = sorted({s for ss in ours["seeds"] for s in str(ss).split(",") if s}, key=lambda v: int(v))
    dirs = [d for d in ours["run_files_dir"] if d]
    folder = ""
    if dirs:
        folder = os.path.commonpath(dirs)
    used = ours["score"].unique()
    score = used[0] if len(used) == 1 else ("selected" if len(used) else "test_at_best_val")
    return {
        "score": score, "score_words": SCORE_WORDS.get(score, score), "seeds": seeds,
        "commits": commits, "mixed": len(commits) > 1, "dirty": bool(ours["git_dirty"].any()),
        "folder": folder,
    }


def to_markdown(summ: pd.DataFrame, table: str) -> str:
    """GitHub Markdown: one row per summary row, mean ± std, best in bold."""
    pub = _has_published(summ)
    rows = []
    for _, r in summ.iterrows():
        cell = _mean_std(r, " ± ")
        if r["best"] and cell:
            cell = f"**{cell}**"
        if r["mixed_commits"]:
            cell += " †"
        arrow = "↑" if r["higher_is_better"] else "↓"
        row = [r["task_title"], f"{r['metric_display']} {arrow}", r["backbone"], r["method"], _s(r.get("protocol")),
               cell, r["n_seeds"] if r["row_kind"] == "run" else ""]
        if pub:
            row += [_s(r["published_method"]), fmt_num(r["published_value"]), fmt_num(r["diff_vs_published"]),
                    _s(r["published_note"])]
        rows.append(row)
    headers = ["Task", "Metric", "Backbone", "Method", "Protocol", "Ours (mean ± std)", "Seeds"]
    if pub:
        headers += ["Paper method", "Paper", "Ours − paper", "Note"]
    c = caption_text(summ)
    lines = [
        f"# {table}",
        "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        f"Score: {c['score_words']} (`{c['score']}`); mean ± sample std over seeds {','.join(c['seeds'])}; "
        "bold = best mean per task and backbone.",
        f"Provenance: commit(s) {', '.join(c['commits']) or 'unknown'}"
        f"{' (MIXED COMMITS)' if c['mixed'] else ''}{' (dirty tree)' if c['dirty'] else ''}; "
        f"run files under `{c['folder']}`."
        + (" † = this row mixes runs from different commits." if summ["mixed_commits"].any() else ""),
        "",
    ]
    return "\n".join(lines) + _comparison_markdown(summ)


def _comparison_markdown(summ: pd.DataFrame) -> str:
    """Published | ours (original) | ours (clean) | differences, for the cells run under both protocols."""
    cmp = protocol_comparison(summ) if "protocol" in summ else pd.DataFrame()
    if cmp.empty:
        return ""
    rows = [[r["task_title"], r["metric_display"], r["backbone"], r["method"], fmt_num(r["published_value"]),
             fmt_num(r["original"]), fmt_num(r["clean"]), fmt_num(r["original"] - r["published_value"]),
             fmt_num(r["original_minus_clean"])] for _, r in cmp.iterrows()]
    headers = ["Task", "Metric", "Backbone", "Method", "Published", "Ours (original)", "Ours (clean)",
               "Original − published", "Original − clean"]
    return "\n".join(["", "## Protocols side by side", "",
                      tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), "",
                      "original: the released code's protocol (whole training set, best test epoch, chunked metric); "
                      "clean: validation split, test at the best-validation epoch (docs/fidelity.md).", ""])


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "−": "-", "↑": r"$\uparrow$", "↓": r"$\downarrow$",
}


def tex_escape(s) -> str:
    """Escape LaTeX special characters in plain text."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(s))


def to_latex(summ: pd.DataFrame, table: str) -> str:
    """booktabs table (\\toprule/\\midrule/\\bottomrule), mean $\\pm$ std, best in \\textbf."""
    pub = _has_published(summ)
    headers = ["Task", "Metric", "Backbone", "Method", "Protocol", r"Ours (mean $\pm$ std)", "$n$"]
    if pub:
        headers += ["Paper method", "Paper", "Ours $-$ paper"]
    body = []
    prev_task = None
    for _, r in summ.iterrows():
        if prev_task is not None and r["task"] != prev_task:
            body.append(r"\midrule")
        prev_task = r["task"]
        cell = ""
        if finite(r["mean"]):
            cell = fmt_num(r["mean"]) + (rf" $\pm$ {fmt_num(r['std'], 2)}" if finite(r["std"]) else "")
            if r["best"]:
                cell = rf"\textbf{{{cell}}}"
            if r["mixed_commits"]:
                cell += r"$^\dagger$"
        arrow = r"$\uparrow$" if r["higher_is_better"] else r"$\downarrow$"
        row = [tex_escape(r["task_title"]), f"{tex_escape(r['metric_display'])} {arrow}", tex_escape(r["backbone"]),
               tex_escape(r["method"]), tex_escape(_s(r.get("protocol"))), cell,
               str(r["n_seeds"]) if r["row_kind"] == "run" else ""]
        if pub:
            pv = fmt_num(r["published_value"])
            if pv and "uncertain" in str(r["published_note"]):
                pv += r"$^\ast$"
            row += [tex_escape(_s(r["published_method"])), pv, fmt_num(r["diff_vs_published"])]
        body.append(" & ".join(row) + r" \\")
    c = caption_text(summ)
    caption = (
        f"{tex_escape(table)}: {tex_escape(c['score_words'])} (\\texttt{{{tex_escape(c['score'])}}}), "
        rf"mean $\pm$ sample standard deviation over seeds {tex_escape(','.join(c['seeds']))} "
        "($n$ = seeds per row); best mean per task and backbone in bold."
    )
    if pub:
        caption += r" Paper numbers from published.csv; $^\ast$ = read off a chart."
    caption += (
        f" Provenance: commit(s) \\texttt{{{tex_escape(', '.join(c['commits']) or 'unknown')}}}"
        f"{' (mixed commits)' if c['mixed'] else ''}{' (dirty tree)' if c['dirty'] else ''}; "
        f"run files in \\texttt{{{tex_escape(c['folder'])}}}."
    )
    if summ["mixed_commits"].any():
        caption += r" $^\dagger$ = row mixes runs from different commits."
    cols = "llllll" + "r" + ("lrr" if pub else "")
    lines = [
        r"% requires \usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{caption}}}",
        rf"\label{{tab:{re.sub(r'[^A-Za-z0-9:_-]', '-', table)}}}",
        r"\small",
        rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule",
        " & ".join(headers) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
        "",
    ]
    return "\n".join(lines)
