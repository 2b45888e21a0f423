"""Tables and plots from per-run result JSON files.

``build_report`` reads the runs of one table, aggregates seeds (``aggregate.summarise``), puts
published numbers beside ours (``aggregate.join_published``) and writes
``results/<table>.csv``, ``reports/<table>.{md,tex,png,pdf}``. Every output is rendered in
memory first and then written through a temporary file + ``os.replace``, so a crash never
leaves a partial table.
"""
from __future__ import annotations

from pathlib import Path

from ..runtime import atomic_write_bytes
from .aggregate import join_published, load_published, load_runs, summarise

__all__ = ["build_report"]


def build_report(run_files: list[Path], table: str, results_dir: Path, reports_dir: Path,
                 published_csv: Path | None, score: str = "test_at_best_val") -> dict[str, Path]:
    """Aggregate the runs of ``table`` and write CSV, Markdown, LaTeX, PNG and PDF.

    Run files whose ``table`` differs are ignored (a file without ``table`` counts as this
    table); none left is an error. Returns
    ``{"csv", "md", "tex", "png", "pdf"} -> written path``.
    """
    from .plots import render_figure
    from .tables import to_csv_text, to_latex, to_markdown

    runs = load_runs(run_files, default_table=table)
    runs = runs[runs["table"] == table]
    if runs.empty:
        raise ValueError(f"no run file belongs to table {table!r}")
    published = load_published(published_csv) if published_csv is not None else None
    summ = join_published(summarise(runs, score=score), published)

    # render everything before writing anything
    texts = {"csv": to_csv_text(summ), "md": to_markdown(summ, table), "tex": to_latex(summ, table)}
    figs = render_figure(summ, table)
    targets = {
        "csv": Path(results_dir) / f"{table}.csv",
        "md": Path(reports_dir) / f"{table}.md",
        "tex": Path(reports_dir) / f"{table}.tex",
        "png": Path(reports_dir) / f"{table}.png",
        "pdf": Path(reports_dir) / f"{table}.pdf",
    }
    payload = {k: v.encode("utf-8") for k, v in texts.items()} | figs
    for k, path in targets.items():
        atomic_write_bytes(path, payload[k])
    return targets
