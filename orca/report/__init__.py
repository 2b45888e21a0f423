"""Tables and plots from per-run result JSON files.

``build_report`` reads the runs of one table, aggregates seeds (``aggregate.summarise``), puts
published numbers beside ours (``aggregate.join_published``) and writes
``results/<table>.csv``, ``reports/<table>.{md,tex,png,pdf}``; with a ``summary`` spec also the
average improvement over a reference method (``summary.build_summary``) as
``results/<table>_summary.csv`` and a section of the Markdown and LaTeX. Every output is rendered in
memory first and then written through a temporary file + ``os.replace``, so a crash never
leaves a partial table.
"""
from __future__ import annotations

from pathlib import Path

from ..runtime import atomic_write_bytes
from .aggregate import join_published, load_published, load_runs, summarise

__all__ = ["build_report"]


def build_report(run_files: list[Path], table: str, results_dir: Path, reports_dir: Path,
                 published_csv: Path | None, score: str = "test_at_best_val",
                 summary: dict | None = None) -> dict[str, Path]:
    """Aggregate the runs of ``table`` and write CSV, Markdown, LaTeX, PNG and PDF.

    Run files whose ``table`` differs are ignored (a file without ``table`` counts as this
    table); none left is an error. ``summary``: the table's config ``summary`` entry
    (``{"improvement_over": method, "groups": {...}}``, see ``summary.build_summary``) or None.
    Returns ``{"csv", "md", "tex", "png", "pdf"[, "summary_csv"]} -> written path``.
    """
    from ..rehearsal.marking import check_runs, mark_frame, title
    from .plots import render_figure
    from .tables import to_csv_text, to_latex, to_markdown

    check_runs(run_files)  # rehearsal and real runs never share a table
    runs = load_runs(run_files, default_table=table)
    runs = runs[runs["table"] == table]
    if runs.empty:
        raise ValueError(f"no run file belongs to table {table!r}")
    published = load_published(published_csv) if published_csv is not None else None
    ours = summarise(runs, score=score)
    summ = join_published(ours, published)

    # render everything before writing anything
    shown = title(table)  # marked in a rehearsal (orca.rehearsal.marking)
    texts = {"csv": to_csv_text(mark_frame(summ)), "md": to_markdown(summ, shown), "tex": to_latex(summ, shown)}
    if summary is not None:
        texts.update(_summary_texts(ours, table, summary, published, texts))
    figs = render_figure(summ, shown)
    targets = {
        "csv": Path(results_dir) / f"{table}.csv",
        "md": Path(reports_dir) / f"{table}.md",
        "tex": Path(reports_dir) / f"{table}.tex",
        "png": Path(reports_dir) / f"{table}.png",
        "pdf": Path(reports_dir) / f"{table}.pdf",
    }
    if summary is not None:
        targets["summary_csv"] = Path(results_dir) / f"{table}_summary.csv"
    payload = {k: v.encode("utf-8") for k, v in texts.items()} | figs
    for k, path in targets.items():
        atomic_write_bytes(path, payload[k])
    return targets


def _summary_texts(ours, table: str, spec: dict, published, texts: dict[str, str]) -> dict[str, str]:
    """The summary CSV, and the Markdown and LaTeX of ``texts`` with the summary section appended."""
    from ..rehearsal.marking import mark_frame
    from .summary import build_summary, summary_latex, summary_markdown
    from .tables import to_csv_text

    df = build_summary(ours, table, spec, published)
    ref = spec["improvement_over"]
    return {"summary_csv": to_csv_text(mark_frame(df)), "md": texts["md"] + "\n" + summary_markdown(df, ref),
            "tex": texts["tex"] + "\n" + summary_latex(df, table, ref)}
