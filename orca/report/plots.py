"""Per-task facets of mean ± std per method (bars with error bars), paper numbers as markers.

Uses matplotlib's object API with the Agg canvas (no pyplot, no display, no global backend
change). ``render_figure`` returns PNG and PDF bytes; ``build_report`` writes them.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .aggregate import finite

__all__ = ["make_figure", "render_figure"]

_PALETTE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def make_figure(summ: pd.DataFrame, table: str, max_cols: int = 3) -> Figure:
    """One axes per task (metrics differ); x = backbone/method, bar = mean, error bar = std
    (sample, over seeds), red diamond = published value where present."""
    tasks = list(dict.fromkeys(summ["task"]))
    n = max(1, len(tasks))
    ncols = min(max_cols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.6 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    methods = list(dict.fromkeys(summ.loc[summ.row_kind == "run", "method"]))
    colour = {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(methods)}
    for k, task in enumerate(tasks):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        g = summ[summ["task"] == task].reset_index(drop=True)
        mixed = "protocol" in g and summ.loc[summ.row_kind == "run", "protocol"].nunique() > 1
        protos = g["protocol"].fillna("") if mixed else [""] * len(g)
        labels = [(f"{m}\n({b}{', ' + p if p else ''})" if b else f"{m}\n(paper)")
                  for m, b, p in zip(g["method"], g["backbone"], protos)]
        x = np.arange(len(g))
        for i, r in g.iterrows():
            if finite(r["mean"]):
                err = r["std"] if finite(r["std"]) else None  # one seed: no error bar
                ax.bar(x[i], r["mean"], yerr=err, capsize=3, width=0.7,
                       color=colour.get(r["method"], "#999999"), edgecolor="black" if r["best"] else "none",
                       linewidth=1.5)
            if finite(r["published_value"]):
                ax.plot(x[i], r["published_value"], marker="D", color="red", markersize=6, linestyle="none",
                        label="paper" if "paper" not in ax.get_legend_handles_labels()[1] else None)
        ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
        arrow = "higher is better" if bool(g["higher_is_better"].iloc[0]) else "lower is better"
        ax.set_ylabel(f"{g['metric_display'].iloc[0]} ({arrow})", fontsize=8)
        ax.set_title(str(g["task_title"].iloc[0]), fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        if ax.get_legend_handles_labels()[1]:
            ax.legend(fontsize=7)
    score = summ.loc[summ.row_kind == "run", "score"]
    used = score.unique()
    fig.suptitle(f"{table}: mean ± std over seeds ({used[0] if len(used) == 1 else ', '.join(used)})", fontsize=10)
    return fig


def render_figure(summ: pd.DataFrame, table: str) -> dict[str, bytes]:
    """PNG (150 dpi) and PDF bytes of :func:`make_figure`."""
    fig = make_figure(summ, table)
    out = {}
    for fmt in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150)
        out[fmt] = buf.getvalue()
    return out
