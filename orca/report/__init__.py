"""Tables and plots from per-run result JSON files.

``build_report`` reads the runs of one table, aggregates seeds with 95% t intervals and the paired
comparison with ``none`` (``aggregate.summarise``, ``compare``), puts published numbers beside ours
(``aggregate.join_published``) and writes, for table NAME:

- ``results/NAME.csv`` (one row per cell), ``reports/NAME.{md,tex,html}`` (the table in the paper's layout,
  methods x tasks per protocol, ``wide``; and the across-tasks section), ``reports/NAME_long.{md,tex}`` (the
  appendix: the long form, one row per task x backbone x method x protocol, as the CSV), ``reports/NAME.{png,pdf}``
  (per-task point plots);
- ``results/NAME_ranks.csv`` (mean rank, win/tie/loss vs ``none`` and ``xgboost``),
  ``results/NAME_profile.csv`` and ``reports/NAME_profile.{png,pdf}`` (performance profiles; ``profiles``);
- when the runs of one stage come from different code versions, a note naming them (``versions.version_note``)
  under the Markdown's provenance line and in the LaTeX caption;
- with ``questions``, a section answering each (method vs reference, paired over seeds; ``questions``);
- with a ``summary`` spec also ``results/NAME_summary.csv`` (average improvement over a reference method,
  ``summary.build_summary``) and a section of the Markdown and LaTeX.

Every output is rendered in memory first and then written through a temporary file + ``os.replace``, so a
crash never leaves a partial table.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["build_report", "report_targets"]


def report_targets(table: str, results_dir: Path, reports_dir: Path, summary: bool) -> dict[str, Path]:
    """Every file ``build_report`` writes for ``table`` (the workflow's ``table_outputs`` lists the same)."""
    res, rep = Path(results_dir), Path(reports_dir)
    targets = {"csv": res / f"{table}.csv", "ranks_csv": res / f"{table}_ranks.csv",
               "profile_csv": res / f"{table}_profile.csv"}
    targets |= {k: rep / f"{table}.{k}" for k in ("md", "tex", "html", "png", "pdf")}
    targets |= {f"{k}_long": rep / f"{table}_long.{k}" for k in ("md", "tex")}  # the long form (appendix)
    targets |= {f"profile_{k}": rep / f"{table}_profile.{k}" for k in ("png", "pdf")}
    if summary:
        targets["summary_csv"] = res / f"{table}_summary.csv"
    return targets


def build_report(run_files: list[Path], table: str, results_dir: Path, reports_dir: Path,
                 published_csv: Path | None, score: str = "selected",
                 summary: dict | None = None, reference: str = "none", rehearsal: bool = False,
                 missing: dict | None = None, questions: list[dict] | None = None,
                 published_tables: list[str] | None = None) -> dict[str, Path]:
    """Aggregate the runs of ``table`` and write the files of :func:`report_targets`.

    Run files whose ``table`` differs are ignored (a file without ``table`` counts as this
    table); none left is an error. ``summary``: the table's config ``summary`` entry
    (``{"improvement_over": method, "groups": {...}}``, see ``summary.build_summary``) or None.
    ``reference``: the method every other one is paired with (naive fine-tuning, ``none``). ``rehearsal``
    (the report job's mode): every output is marked and every run must be a rehearsal's. ``missing``: a partly
    failed table's missing cells (``orca.plan.failures.missing_cells``), listed in every output (``missing``). ``questions``: the
    table's config ``questions`` (``[{question, method, reference}]``), answered in a section of the Markdown and
    LaTeX (``questions``). ``published_tables``: follow-up papers' tables of ``published_csv`` shown beside ORCA's
    (``aggregate.join_published``; None: each run's own published table only).
    Returns ``{kind: written path}``.
    """
    from ..rehearsal.marking import check_runs, mark_frame, title
    from ..runtime.process import atomic_write_bytes
    from .aggregate import join_published, load_published, load_runs, summarise  # pandas: not for report_targets
    import pandas as pd

    from .html import to_html
    from .missing import failed_rows, missing_latex_note, missing_markdown, partial_title
    from .plots import render_figure, render_profile
    from .profiles import across_latex, across_markdown, profile_curves, performance_ratios, rank_table
    from .tables import long_latex, long_markdown, to_csv_text, to_latex, to_markdown
    from .wide import wide_blocks
    from .versions import with_latex_note

    check_runs(run_files, rehearsal)  # rehearsal and real runs never share a table
    runs = load_runs(run_files, default_table=table)
    runs = runs[runs["table"] == table]
    if runs.empty:
        raise ValueError(f"no run file belongs to table {table!r}")
    published = load_published(published_csv) if published_csv is not None else None
    ours = summarise(runs, score=score, reference=reference)
    summ = join_published(ours, published, published_tables=published_tables)
    ranks = rank_table(ours, runs, score, references=tuple(dict.fromkeys((reference, "xgboost"))))
    curves = profile_curves(performance_ratios(ours))

    # render everything before writing anything
    shown = title(table, rehearsal) + partial_title(missing)  # marked in a rehearsal (orca.rehearsal.marking)
    blocks = wide_blocks(summ, runs, score, published)  # the paper's layout: methods x tasks, per protocol
    texts = {"csv": to_csv_text(mark_frame(summ, rehearsal)),
             "md": to_markdown(summ, shown, across_markdown(ranks), blocks=blocks, long_file=f"{table}_long.md"),
             "tex": to_latex(summ, shown, across_latex(ranks, table), blocks=blocks, long_file=f"{table}_long.tex",
                             name=table),
             "md_long": long_markdown(summ, shown), "tex_long": long_latex(summ, shown, table),
             "ranks_csv": to_csv_text(mark_frame(ranks, rehearsal)),
             "profile_csv": to_csv_text(mark_frame(curves, rehearsal))}
    if summary is not None:
        texts.update(_summary_texts(ours, table, summary, published, texts, rehearsal))
    if questions:
        from .questions import answer_questions, questions_latex, questions_markdown

        answers = answer_questions(ours, runs, score, questions)
        texts["md"] += questions_markdown(answers, questions)
        texts["tex"] += "\n" + questions_latex(answers, questions, table)
    for md, tex in (("md", "tex"), ("md_long", "tex_long")):
        texts[md], texts[tex] = _with_version_note(list(runs["path"]), texts[md], texts[tex])
    if missing and missing["missing"]:  # a partial table lists its missing cells (orca.report.missing)
        texts["csv"] = to_csv_text(mark_frame(pd.concat([summ, failed_rows(missing, table)], ignore_index=True),
                                              rehearsal))
        texts["md"] += missing_markdown(missing)
        texts["tex"] = with_latex_note(texts["tex"], missing_latex_note(missing, table))
    texts["html"] = to_html(texts["md"], shown)
    figs = render_figure(summ, runs, shown)
    payload = {k: v.encode("utf-8") for k, v in texts.items()} | figs
    payload |= {f"profile_{k}": v for k, v in render_profile(curves, shown).items()}
    targets = report_targets(table, results_dir, reports_dir, summary is not None)
    for k, path in targets.items():
        atomic_write_bytes(path, payload[k])
    return targets


def _with_version_note(run_files: list[str], md: str, tex: str) -> tuple[str, str]:
    """``md`` and ``tex`` with the note on runs from another code version (``versions.version_note``) after the
    Markdown's provenance line and in the LaTeX caption; unchanged when the runs share one version."""
    from ..stages.records import read_record
    from .versions import version_note, version_note_latex, with_latex_note, with_markdown_note

    records = [read_record(p).to_json() for p in run_files]
    return (with_markdown_note(md, version_note(records, run_files)),
            with_latex_note(tex, version_note_latex(records, run_files)))


def _summary_texts(ours, table: str, spec: dict, published, texts: dict[str, str],
                   rehearsal: bool) -> dict[str, str]:
    """The summary CSV, and the Markdown and LaTeX of ``texts`` with the summary section appended."""
    from ..rehearsal.marking import mark_frame
    from .summary import build_summary, summary_latex, summary_markdown
    from .tables import to_csv_text

    df = build_summary(_one_protocol(ours, spec["improvement_over"]), table, spec, published)
    ref = spec["improvement_over"]
    return {"summary_csv": to_csv_text(mark_frame(df, rehearsal)), "md": texts["md"] + "\n" + summary_markdown(df, ref),
            "tex": texts["tex"] + "\n" + summary_latex(df, table, ref)}


def _one_protocol(ours, reference: str):
    """The rows an average-improvement summary uses: the network rows of one protocol (``original``, the
    paper's own, when the table ran it, else the one there is) and the reference method's rows."""
    protocols = set(ours.loc[ours["method"] != reference, "protocol"])
    chosen = "original" if "original" in protocols else min(protocols, default="clean")
    return ours[(ours["protocol"] == chosen) | (ours["method"] == reference)]
