"""Render a summary (``aggregate.SUMMARY_COLUMNS``) as CSV, GitHub Markdown and booktabs LaTeX.

- :func:`to_markdown`, :func:`to_latex`: the main view, in the paper's layout (``wide.wide_blocks``: methods as
  rows, tasks as columns, one cell ``ours [95% t CI] / paper``; one table per evaluation protocol, the
  protocol in its caption; tasks as rows when there are more than ``wide.MAX_TASK_COLUMNS``), then the
  ``original - clean`` differences when the table ran both protocols;
- :func:`long_markdown`, :func:`long_latex`: the long form, one row per task x backbone x method x protocol
  with the paired Δ vs the reference and ours − paper (the appendix ``NAME_long.{md,tex}``; the CSV has the
  same rows).

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
from .wide import NO_NUMBER, Block, Cell, wide_blocks

__all__ = ["fmt_num", "to_csv_text", "to_markdown", "to_latex", "long_markdown", "long_latex", "caption_text"]

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


def long_markdown(summ: pd.DataFrame, table: str) -> str:
    """The long form as GitHub Markdown (the appendix ``NAME_long.md``): one row per summary row (mean
    [interval], paired Δ vs the reference, the paper's number and ours − paper), bold per
    :data:`compare.BOLD_RULE`, then the protocols side by side."""
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
        f"# {table}: long form",
        "",
        "One row per task, backbone, method and protocol; the paper's layout is the main table.",
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
    "±": r"$\pm$", "−": "-", "Δ": r"$\Delta$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "–": "--",
    "·": r"$\cdot$",
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


def long_latex(summ: pd.DataFrame, table: str, name: str | None = None) -> str:
    """The long form as a booktabs table (the appendix ``NAME_long.tex``): mean [interval], paired $\\Delta$
    vs the reference, the paper's number, bold per :data:`compare.BOLD_RULE`; then the protocols side by side.
    Labels ``tab:<name>-long`` and ``tab:<name>-long-protocols`` (``name`` default: ``table``)."""
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
        rf"\label{{tab:{_label(name or table)}-long}}",
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
    return "\n".join(lines) + _comparison_latex(summ, table, name or table)


def _comparison_latex(summ: pd.DataFrame, table: str, name: str) -> str:
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
    label = _label(name) + "-long"
    caption = (f"{tex_escape(table)}: the released code's protocol (original: whole training set, best test epoch, "
               "chunked metric) beside the clean one (validation split, test at the best-validation epoch), seed means.")
    return "\n".join(["", r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}",
                      rf"\label{{tab:{label}-protocols}}", r"\small", r"\begin{tabular}{llllrrrrr}", r"\toprule",
                      " & ".join(head) + r" \\", r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
                      r"\end{table}", ""])


# ----------------------------------------------------------------------------- the paper's layout
def _label(table: str) -> str:
    return re.sub(r"[^A-Za-z0-9:_-]", "-", table)


def _no_number(blocks: list[Block]) -> bool:
    return any(c.paper_text == NO_NUMBER for b in blocks for c in b.cells.values())


def _one_seed(blocks: list[Block]) -> bool:
    """True when every cell of ours has one seed (the caption says so once; cells carry no 'n=1')."""
    ns = {c.n_seeds for b in blocks for c in b.cells.values() if c.ours and not c.signed}
    return ns <= {1}


def _ours_text(c: Cell, one_seed: bool) -> str:
    """'mean [low, high]'; 'mean' (one seed everywhere) or 'mean (n=1)'; a difference with its sign."""
    if c.signed:
        return f"{c.mean:+.4g}"
    text = fmt_num(c.mean)
    if finite(c.low):
        return f"{text} {_interval(c.low, c.high)}"
    return text if one_seed else f"{text} (n={c.n_seeds})"


def _paper_text(c: Cell, star: str) -> str:
    """The paper's number ('*' marks one read off a chart), or what it prints instead; its metric when not the
    column's."""
    text = fmt_num(c.paper) if finite(c.paper) else c.paper_text
    if text and c.paper_uncertain:
        text += star
    return f"{text} ({c.paper_label})" if text and c.paper_label else text


def _md_cell(c: Cell | None, one_seed: bool) -> str:
    if c is None:
        return ""
    if not c.ours:
        return _paper_text(c, "*")
    text = _ours_text(c, one_seed)
    if c.bold:
        text = f"**{text}**"
    if c.mixed_commits:
        text += " †"
    return f"{text} / {_paper_text(c, '*')}" if c.has_paper else text


def _arrow(higher_is_better: bool) -> str:
    return "↑" if higher_is_better else "↓"


def _md_pipe(s: str) -> str:
    return str(s).replace("|", "\\|")


def _md_grid(block: Block, one_seed: bool) -> str:
    """A block as a GitHub table (transposed: tasks as rows)."""
    cols = block.columns
    if block.transposed:
        heads = [(f"{r.backbone} · {r.label}" if r.backbone else r.label) for r in block.rows]
        headers = ["Task", "Metric", *heads]
        rows = [[c.title, f"{c.metric} {_arrow(c.higher_is_better)}",
                 *(_md_cell(block.cell(r, c), one_seed) for r in block.rows)] for c in cols]
    else:
        headers = (["Backbone"] if block.split_backbones else []) + ["Method"] + [
            f"{c.title} · {c.metric} {_arrow(c.higher_is_better)}" for c in cols]
        rows = [([r.backbone] if block.split_backbones else []) + [r.label]
                + [_md_cell(block.cell(r, c), one_seed) for c in cols] for r in block.rows]
    rows = [[_md_pipe(x) for x in row] for row in rows]
    return tabulate(rows, headers=[_md_pipe(h) for h in headers], tablefmt="github", disable_numparse=True)


def _protocol_words(block: Block) -> str:
    from ..spec.protocols import PROTOCOLS

    known = PROTOCOLS.get(block.protocol)
    return f"{block.protocol} ({known.summary})" if known else block.protocol


def _backbones_words(blocks: list[Block]) -> str:
    """'swin-base (CIFAR-100, ...); roberta-base (ECG, ...)' when each task has one backbone and they differ
    (or ''): the columns then say which body each ran on."""
    if not blocks or blocks[0].split_backbones:
        return ""
    by: dict[str, list[str]] = {}
    for c in blocks[0].columns:
        for b in c.backbones:
            by.setdefault(b, []).append(c.title)
    if not by:
        return ""
    if len(by) == 1:
        return next(iter(by))
    return "; ".join(f"{b} ({', '.join(titles)})" for b, titles in by.items())


def _legend(summ: pd.DataFrame, blocks: list[Block], long_file: str) -> list[str]:
    """The sentences under the main table (Markdown; the LaTeX caption says the same)."""
    c = caption_text(summ)
    one = _one_seed(blocks)
    pub = _has_published(summ)
    ref = _reference_of(summ)
    words = [f"Cells: Ours (mean [95% t CI]) over seeds {','.join(c['seeds'])}"
             + ("; one seed per cell, so no interval." if one else "; n=1 has no interval.")]
    if pub:
        words.append("`ours / paper`: our number, then the paper's for the method named in parentheses after the row "
                     "(published.csv; * = read off a chart). Rows marked (paper): the paper's numbers for methods "
                     "not run here." + (f" {NO_NUMBER} = the paper gives no number." if _no_number(blocks) else ""))
    words.append(f"{BOLD_RULE}, within each protocol's table.")
    backbones = _backbones_words(blocks)
    if backbones:
        words.append(f"Backbone: {backbones}.")
    if summ["mixed_commits"].any():
        words.append("† = the cell mixes runs from different commits.")
    words.append(f"Δ vs {ref} [95% t CI], seeds and ours − paper per cell: the long form, `{long_file}`.")
    return [" ".join(words),
            f"Provenance: commit(s) {', '.join(c['commits']) or 'unknown'}"
            f"{' (MIXED COMMITS)' if c['mixed'] else ''}{' (dirty tree)' if c['dirty'] else ''}; "
            f"run files under `{c['folder']}`."]


def _block_words(block: Block, plain=lambda s: s, code=lambda s: f"`{s}`") -> str:
    text = f"Protocol {plain(_protocol_words(block))}"
    if block.score:
        text += f"; score {code(block.score)}"
    text += "."
    if block.borrowed_baselines:
        text += " Baselines: fit on the clean split, the same numbers in every protocol's table."
    return text


PROTOCOL_DIFFERENCE_WORDS = ("original − clean: our seed means under the released code's protocol (whole "
                             "training set, best test epoch, chunked metric) minus those under the clean one "
                             "(validation split, test at the best-validation epoch); docs/fidelity.md.")


def _blocks_of(summ: pd.DataFrame, blocks: list[Block] | None) -> list[Block]:
    return wide_blocks(summ) if blocks is None else blocks


def to_markdown(summ: pd.DataFrame, table: str, across: str = "", *, blocks: list[Block] | None = None,
                long_file: str | None = None) -> str:
    """GitHub Markdown in the paper's layout (``wide.wide_blocks``; ``blocks``: already pivoted, else pivoted
    here): one table per protocol (a heading each when there are several), the legend and provenance, the
    ``original - clean`` differences when both protocols ran, then ``across`` (``profiles.across_markdown``).
    ``long_file``: the appendix the legend names (default ``<table>_long.md``)."""
    from .wide import protocol_difference

    blocks = _blocks_of(summ, blocks)
    one = _one_seed(blocks)
    lines = [f"# {table}", ""]
    for b in blocks:
        if len(blocks) > 1:
            lines += [f"## Protocol {b.protocol}", ""]
        lines += [_md_grid(b, one), "", _block_words(b), ""]
    lines += _legend(summ, blocks, long_file or f"{_label(table)}_long.md") + [""]
    diff = protocol_difference(summ, blocks)
    if diff is not None:
        lines += ["## Protocols side by side", "", _md_grid(diff, one), "", PROTOCOL_DIFFERENCE_WORDS, ""]
    return "\n".join(lines) + (("\n" + across) if across else "")


def _tex_cell(c: Cell | None, one_seed: bool) -> str:
    if c is None:
        return ""
    if not c.ours:
        return tex_escape(_paper_text(c, "\x00")).replace("\x00", r"$^\ast$")
    text = tex_escape(_ours_text(c, one_seed))
    if c.bold:
        text = rf"\textbf{{{text}}}"
    if c.mixed_commits:
        text += r"$^\dagger$"
    if not c.has_paper:
        return text
    paper = tex_escape(_paper_text(c, "\x00")).replace("\x00", r"$^\ast$")
    return rf"\begin{{tabular}}[t]{{@{{}}c@{{}}}}{text}\\{{\scriptsize ({paper})}}\end{{tabular}}"


def _merged(values: list[str], first_col: int) -> tuple[list[str], list[str]]:
    """Adjacent equal header values as \\multicolumn cells, and the \\cmidrule under each group."""
    cells, rules, i = [], [], 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        span = j - i + 1
        cells.append(values[i] if span == 1 else rf"\multicolumn{{{span}}}{{c}}{{{values[i]}}}")
        rules.append(rf"\cmidrule(lr){{{first_col + i}-{first_col + j}}}")
        i = j + 1
    return cells, rules


def _tex_grid(block: Block, one_seed: bool) -> list[str]:
    """The tabular of a block: header rows, body (\\midrule between our networks, baselines and the paper's
    rows, and between backbones), booktabs rules."""
    cols = block.columns
    head: list[str] = []
    if block.transposed:
        lead = ["Task", "Metric"]
        spec = "ll" + "c" * len(block.rows)
        if block.split_backbones:
            cells, rules = _merged([tex_escape(r.backbone) for r in block.rows], len(lead) + 1)
            head += [" & ".join(["", "", *cells]) + r" \\", " ".join(rules)]
        head.append(" & ".join(lead + [tex_escape(r.label) for r in block.rows]) + r" \\")
        body = [" & ".join([tex_escape(c.title), f"{tex_escape(c.metric)} {tex_escape(_arrow(c.higher_is_better))}",
                            *(_tex_cell(block.cell(r, c), one_seed) for r in block.rows)]) + r" \\" for c in cols]
    else:
        lead = (["Backbone"] if block.split_backbones else []) + ["Method"]
        spec = "l" * len(lead) + "c" * len(cols)
        metrics = [f"{tex_escape(c.metric)} {tex_escape(_arrow(c.higher_is_better))}" for c in cols]
        cells, rules = _merged(metrics, len(lead) + 1)
        head += [" & ".join([""] * len(lead) + cells) + r" \\", " ".join(rules),
                 " & ".join(lead + [tex_escape(c.title) for c in cols]) + r" \\"]
        body, prev = [], None
        for r in block.rows:
            group = (r.kind == "baseline", r.kind == "paper", r.backbone)
            if prev is not None and group != prev:
                body.append(r"\midrule")
            prev = group
            label = ([tex_escape(r.backbone)] if block.split_backbones else []) + [tex_escape(r.label)]
            body.append(" & ".join(label + [_tex_cell(block.cell(r, c), one_seed) for c in cols]) + r" \\")
    return [r"\resizebox{\linewidth}{!}{%", rf"\begin{{tabular}}{{{spec}}}", r"\toprule", *head, r"\midrule",
            *body, r"\bottomrule", r"\end{tabular}}"]


def _tex_caption(summ: pd.DataFrame, blocks: list[Block], block: Block, table: str, long_file: str) -> str:
    c = caption_text(summ)
    one = _one_seed(blocks)
    words = _block_words(block, plain=tex_escape, code=lambda s: "\\texttt{" + tex_escape(s) + "}")
    text = (f"{tex_escape(table)}. {words} "
            + tex_escape(f"Ours: mean over seeds [{INTERVAL_NAME}], seeds {','.join(c['seeds'])}"
                         + ("; one seed per cell, so no interval." if one else "; n=1 has no interval.")))
    if _has_published(summ):
        text += (" In parentheses below ours: the paper's number for the method named in parentheses after the row "
                 r"(published.csv; $^\ast$ = read off a chart); rows marked (paper): the paper's numbers only."
                 + (f" {NO_NUMBER} = the paper gives no number." if _no_number(blocks) else ""))
    text += " " + tex_escape(f"{BOLD_RULE}, within this protocol.")
    backbones = _backbones_words(blocks)
    if backbones:
        text += " " + tex_escape(f"Backbone: {backbones}.")
    if summ["mixed_commits"].any():
        text += r" $^\dagger$ = cell mixes runs from different commits."
    text += (" " + tex_escape(f"Δ vs {_reference_of(summ)} and ours − paper per cell:") +
             rf" \texttt{{{tex_escape(long_file)}}}.")
    text += (f" Provenance: commit(s) \\texttt{{{tex_escape(', '.join(c['commits']) or 'unknown')}}}"
             f"{' (mixed commits)' if c['mixed'] else ''}{' (dirty tree)' if c['dirty'] else ''}; "
             f"run files in \\texttt{{{tex_escape(c['folder'])}}}.")
    return text


def to_latex(summ: pd.DataFrame, table: str, across: str = "", *, blocks: list[Block] | None = None,
             long_file: str | None = None, name: str | None = None) -> str:
    """booktabs LaTeX in the paper's layout: one ``table`` per protocol (the protocol in its one-line caption;
    label ``tab:<name>``, the others ``tab:<name>-<protocol>``), ours over the paper's number in each cell,
    bold per :data:`compare.BOLD_RULE`; the ``original - clean`` table (``tab:<name>-protocols``) when both
    protocols ran; then ``across``. ``name``: the label's stem (default: ``table``)."""
    from .wide import protocol_difference

    blocks = _blocks_of(summ, blocks)
    one = _one_seed(blocks)
    label = _label(name or table)
    long_file = long_file or f"{label}_long.tex"
    out = [r"% requires \usepackage{booktabs,graphicx}; in a two-column paper use table* for a wide table"]
    for i, b in enumerate(blocks):
        out += [r"\begin{table}[t]", r"\centering", rf"\caption{{{_tex_caption(summ, blocks, b, table, long_file)}}}",
                rf"\label{{tab:{label if i == 0 else f'{label}-{_label(b.protocol)}'}}}", r"\small",
                *_tex_grid(b, one), r"\end{table}", ""]
    diff = protocol_difference(summ, blocks)
    if diff is not None:
        caption = tex_escape(f"{table}: {PROTOCOL_DIFFERENCE_WORDS}")
        out += [r"\begin{table}[t]", r"\centering", rf"\caption{{{caption}}}", rf"\label{{tab:{label}-protocols}}",
                r"\small", *_tex_grid(diff, one), r"\end{table}", ""]
    return "\n".join(out) + (("\n" + across) if across else "")
