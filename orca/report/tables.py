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
from .compare import BOLD_RULE
from .stats import INTERVAL_NAME

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


def _interval(low, high, digits: int = 3) -> str:
    return f"[{fmt_num(low, digits)}, {fmt_num(high, digits)}]"


def mean_cell(r) -> str:
    """'mean [low, high]' (95% t interval over seeds); 'mean (n=1, no interval)' for one seed; '' without runs."""
    if not finite(r["mean"]):
        return ""
    if finite(r["ci95_t_low"]):
        return f"{fmt_num(r['mean'])} {_interval(r['ci95_t_low'], r['ci95_t_high'])}"
    return f"{fmt_num(r['mean'])} (n={r['n_seeds']}, no interval)"


def paired_cell(r) -> str:
    """'diff [low, high] better|worse|tie' of the paired comparison with the reference; '' where none."""
    if not r["paired_reference"] or not finite(r["paired_diff"]):
        return ""
    d = f"{float(r['paired_diff']):+.3g}"
    if not finite(r["paired_ci95_t_low"]):
        return f"{d} (n={r['paired_n']}, no interval)"
    return f"{d} {_interval(r['paired_ci95_t_low'], r['paired_ci95_t_high'])} {r['paired_verdict']}"


def _reference_of(summ: pd.DataFrame) -> str:
    refs = [x for x in summ["paired_reference"].dropna().unique() if x]
    return refs[0] if refs else "none"


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


def stats_words(ref: str, compared: bool = True) -> str:
    """The sentence every table's caption gives about its statistics."""
    missing = "" if compared else f" No paired comparison: {ref} is not in this table (or shares no task with it)."
    return missing + (f"Ours: mean over seeds [{INTERVAL_NAME}]; n=1 has no interval. Δ vs {ref}: mean of the per-seed "
            f"difference (method − {ref}, same seeds) [{INTERVAL_NAME} of that difference]; better/worse = the "
            f"interval excludes 0 on the good/bad side of the metric, tie = it contains 0. {BOLD_RULE}.")


def to_markdown(summ: pd.DataFrame, table: str, across: str = "") -> str:
    """GitHub Markdown: one row per summary row (mean [interval], paired Δ vs the reference), bold per
    :data:`compare.BOLD_RULE`; ``across``: an optional section appended (``profiles.across_markdown``)."""
    pub = _has_published(summ)
    ref = _reference_of(summ)
    rows = []
    for _, r in summ.iterrows():
        cell = mean_cell(r)
        if r["tied_with_best"] and cell:
            cell = f"**{cell}**"
        if r["mixed_commits"]:
            cell += " †"
        arrow = "↑" if r["higher_is_better"] else "↓"
        row = [r["task_title"], f"{r['metric_display']} {arrow}", r["backbone"], r["method"], _s(r.get("protocol")),
               cell, r["n_seeds"] if r["row_kind"] == "run" else "", paired_cell(r)]
        if pub:
            row += [_s(r["published_method"]), fmt_num(r["published_value"]), fmt_num(r["diff_vs_published"]),
                    _s(r["published_note"])]
        rows.append(row)
    headers = ["Task", "Metric", "Backbone", "Method", "Protocol", "Ours (mean [95% t CI])", "Seeds",
               f"Δ vs {ref} [95% t CI]"]
    if pub:
        headers += ["Paper method", "Paper", "Ours − paper", "Note"]
    c = caption_text(summ)
    lines = [
        f"# {table}",
        "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        f"Score: {c['score_words']} (`{c['score']}`); seeds {','.join(c['seeds'])}. {stats_words(ref, summ['paired_reference'].astype(bool).any())}",
        f"Provenance: commit(s) {', '.join(c['commits']) or 'unknown'}"
        f"{' (MIXED COMMITS)' if c['mixed'] else ''}{' (dirty tree)' if c['dirty'] else ''}; "
        f"run files under `{c['folder']}`."
        + (" † = this row mixes runs from different commits." if summ["mixed_commits"].any() else ""),
        "",
    ]
    return "\n".join(lines) + _comparison_markdown(summ) + (("\n" + across) if across else "")


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
    "±": r"$\pm$", "−": "-", "Δ": r"$\Delta$", "↑": r"$\uparrow$", "↓": r"$\downarrow$",
}


def tex_escape(s) -> str:
    """Escape LaTeX special characters in plain text."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(s))


def _latex_caption(summ: pd.DataFrame, table: str, pub: bool) -> str:
    c = caption_text(summ)
    caption = (f"{tex_escape(table)}: {tex_escape(c['score_words'])} (\\texttt{{{tex_escape(c['score'])}}}), "
               f"seeds {tex_escape(','.join(c['seeds']))} ($n$ = seeds per row). "
               + tex_escape(stats_words(_reference_of(summ), summ['paired_reference'].astype(bool).any())))
    if pub:
        caption += r" Paper numbers from published.csv; $^\ast$ = read off a chart."
    caption += (
        f" Provenance: commit(s) \\texttt{{{tex_escape(', '.join(c['commits']) or 'unknown')}}}"
        f"{' (mixed commits)' if c['mixed'] else ''}{' (dirty tree)' if c['dirty'] else ''}; "
        f"run files in \\texttt{{{tex_escape(c['folder'])}}}."
    )
    if summ["mixed_commits"].any():
        caption += r" $^\dagger$ = row mixes runs from different commits."
    return caption


def _latex_row(r: pd.Series, pub: bool) -> str:
    cell = tex_escape(mean_cell(r))
    if cell and r["tied_with_best"]:
        cell = rf"\textbf{{{cell}}}"
    if cell and r["mixed_commits"]:
        cell += r"$^\dagger$"
    arrow = r"$\uparrow$" if r["higher_is_better"] else r"$\downarrow$"
    row = [tex_escape(r["task_title"]), f"{tex_escape(r['metric_display'])} {arrow}", tex_escape(r["backbone"]),
           tex_escape(r["method"]), tex_escape(_s(r.get("protocol"))), cell,
           str(r["n_seeds"]) if r["row_kind"] == "run" else "", tex_escape(paired_cell(r))]
    if pub:
        pv = fmt_num(r["published_value"])
        if pv and "uncertain" in str(r["published_note"]):
            pv += r"$^\ast$"
        row += [tex_escape(_s(r["published_method"])), pv, fmt_num(r["diff_vs_published"])]
    return " & ".join(row) + r" \\"


def to_latex(summ: pd.DataFrame, table: str, across: str = "") -> str:
    """booktabs table (\\toprule/\\midrule/\\bottomrule): mean [interval], paired $\\Delta$ vs the
    reference, bold per :data:`compare.BOLD_RULE`; ``across``: an optional LaTeX block appended."""
    pub = _has_published(summ)
    headers = ["Task", "Metric", "Backbone", "Method", "Protocol", r"Ours (mean [95\% t CI])", "$n$",
               rf"$\Delta$ vs {tex_escape(_reference_of(summ))} [95\% t CI]"]
    if pub:
        headers += ["Paper method", "Paper", "Ours $-$ paper"]
    body = []
    prev_task = None
    for _, r in summ.iterrows():
        if prev_task is not None and r["task"] != prev_task:
            body.append(r"\midrule")
        prev_task = r["task"]
        body.append(_latex_row(r, pub))
    cols = "llllll" + "r" + "l" + ("lrr" if pub else "")
    lines = [
        r"% requires \usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_latex_caption(summ, table, pub)}}}",
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
    return "\n".join(lines) + _comparison_latex(summ, table) + (("\n" + across) if across else "")


def _comparison_latex(summ: pd.DataFrame, table: str) -> str:
    """The side-by-side protocols table (see ``_comparison_markdown``) as a booktabs table; '' without one."""
    cmp = protocol_comparison(summ) if "protocol" in summ else pd.DataFrame()
    if cmp.empty:
        return ""
    head = ["Task", "Metric", "Backbone", "Method", "Published", "Ours (original)", "Ours (clean)",
            "Original $-$ published", "Original $-$ clean"]
    body = [" & ".join([tex_escape(r["task_title"]), tex_escape(r["metric_display"]), tex_escape(r["backbone"]),
                        tex_escape(r["method"]), fmt_num(r["published_value"]), fmt_num(r["original"]),
                        fmt_num(r["clean"]), fmt_num(r["original"] - r["published_value"]),
                        fmt_num(r["original_minus_clean"])]) + r" \\" for _, r in cmp.iterrows()]
    label = re.sub(r"[^A-Za-z0-9:_-]", "-", table)
    caption = (f"{tex_escape(table)}: the released code's protocol (original: whole training set, best test epoch, "
               "chunked metric) beside the clean one (validation split, test at the best-validation epoch), seed means.")
    return "\n".join(["", r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}",
                      rf"\label{{tab:{label}-protocols}}", r"\small", r"\begin{tabular}{llllrrrrr}", r"\toprule",
                      " & ".join(head) + r" \\", r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
                      r"\end{table}", ""])
