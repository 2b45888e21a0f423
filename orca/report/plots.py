"""Figures of one table, drawn with seaborn on matplotlib's object API (Agg canvas, no pyplot state).

- ``make_figure``: one axes per task (metrics differ); a point per method = mean over seeds, its error
  bar = the 95% t interval over seeds (``stats.t_interval``, the same interval as the tables; none for
  one seed); the paper's number as a red diamond where published.csv has one (paper-only methods get
  their own x position); bold-rule methods (``tied_with_best``) drawn with a black edge.
- ``make_profile_figure``: the Dolan-Moré performance profiles (``profiles.profile_curves``).

``render_figure`` / ``render_profile`` return PNG and PDF bytes; ``build_report`` writes them.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from .aggregate import NO_BACKBONE, finite
from .stats import t_interval

__all__ = ["make_figure", "render_figure", "make_profile_figure", "render_profile", "method_label"]

PALETTE = "colorblind"


def method_label(method: str, backbone: str, multi_backbone: bool) -> str:
    """x label of a method: 'method' (one backbone) or 'method (backbone)'."""
    return f"{method} ({backbone})" if multi_backbone and str(backbone) not in NO_BACKBONE else str(method)


def _errorbar(values) -> tuple[float, float]:
    """seaborn errorbar callable: the 95% t interval (nan, nan with one seed: no bar)."""
    return t_interval(np.asarray(values, dtype=float))


def _labels(frame: pd.DataFrame, multi: bool, protocols: bool) -> list[str]:
    """x labels: method (backbone when several), with the evaluation protocol when a table ran several."""
    protos = frame["protocol"] if protocols else [""] * len(frame)
    return [method_label(m, b, multi) + (f" [{p}]" if p else "")
            for m, b, p in zip(frame["method"], frame["backbone"], protos)]


def _task_axes(ax, runs: pd.DataFrame, summ: pd.DataFrame, score: str, colours: dict) -> None:
    multi = summ.loc[summ.row_kind == "run", "backbone"].astype(str).nunique() > 1
    protocols = "protocol" in runs and summ.loc[summ.row_kind == "run", "protocol"].nunique() > 1
    runs = runs.assign(label=_labels(runs, multi, protocols))
    ran = summ[summ.row_kind == "run"]
    order = _labels(ran, multi, protocols)
    paper_only = summ[(summ.row_kind == "published_only") & summ["published_value"].notna()]
    order += [f"{m} (paper)" for m in paper_only["method"]]
    sns.pointplot(data=runs, x="label", y=score, hue="label", order=order, hue_order=order[:len(ran)],
                  palette=[colours[m] for m in ran["method"]], errorbar=_errorbar, capsize=0.2, err_kws={"linewidth": 1.5},
                  linestyle="none", markers="o", legend=False, ax=ax)
    for pos, (_, r) in enumerate(ran.iterrows()):
        if r["tied_with_best"]:
            ax.plot(pos, r["mean"], marker="o", markersize=11, markerfacecolor="none", markeredgecolor="black",
                    linestyle="none")
    pub_x = list(range(len(ran)))
    pub_y = list(ran["published_value"])
    pub_x += [order.index(f"{m} (paper)") for m in paper_only["method"]]
    pub_y += list(paper_only["published_value"])
    pts = [(x, y) for x, y in zip(pub_x, pub_y) if finite(y)]
    if pts:
        ax.scatter(*zip(*pts), marker="D", color="red", s=30, zorder=5, label="paper")
        ax.legend(fontsize=7)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    for t in ax.get_xticklabels():
        t.set_horizontalalignment("right")


def make_figure(summ: pd.DataFrame, runs: pd.DataFrame, table: str, max_cols: int = 3) -> Figure:
    """One point plot per task: ``runs`` (``load_runs`` rows of this table) give the per-seed scores,
    ``summ`` (``join_published`` rows) the order, the bold rule and the paper numbers."""
    tasks = list(dict.fromkeys(summ["task"]))
    n = max(1, len(tasks))
    ncols = min(max_cols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.8 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    used = summ.loc[summ.row_kind == "run", "score"].unique()
    score = used[0] if len(used) == 1 else "selected"  # several protocols: each its own score (load_runs' column)
    methods = list(dict.fromkeys(summ.loc[summ.row_kind == "run", "method"]))
    colours = dict(zip(methods, sns.color_palette(PALETTE, len(methods))))
    for k, task in enumerate(tasks):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        g = summ[summ["task"] == task].reset_index(drop=True)
        _task_axes(ax, runs[runs["task"] == task], g, score, colours)
        arrow = "higher is better" if bool(g["higher_is_better"].iloc[0]) else "lower is better"
        ax.set_xlabel("")
        ax.set_ylabel(f"{g['metric_display'].iloc[0]} ({arrow})", fontsize=8)
        ax.set_title(str(g["task_title"].iloc[0]), fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"{table}: mean and 95% t interval over seeds ({score}); circled = not distinguishable from "
                 "the best; red diamond = paper", fontsize=9)
    return fig


def make_profile_figure(curves: pd.DataFrame, table: str) -> Figure:
    """rho(tau) step curves per method, tau on a log axis (``curves``: ``profiles.profile_curves``)."""
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    methods = sorted(curves["method"].unique())
    sns.lineplot(data=curves, x="tau", y="rho", hue="method", hue_order=methods, style="method",
                 palette=sns.color_palette(PALETTE, len(methods)), drawstyle="steps-post", ax=ax)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.set_ylim(-0.02, 1.02)
    n = int(curves["n_problems"].iloc[0]) if len(curves) else 0
    ax.set_xlabel("tau (ratio to the best method on a task)")
    ax.set_ylabel(f"share of tasks within tau (of {n})")
    ax.set_title(f"{table}: performance profiles", fontsize=9)
    ax.legend(fontsize=7)
    return fig


#: per-format file metadata: the PDF's creation date left out, so the same table gives the same bytes (a results
#: bundle's ``orca verify`` compares them; PNG carries only the matplotlib version)
METADATA = {"png": None, "pdf": {"CreationDate": None}}


def _to_bytes(fig: Figure) -> dict[str, bytes]:
    out = {}
    for fmt in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150, metadata=METADATA[fmt])
        out[fmt] = buf.getvalue()
    return out


def render_figure(summ: pd.DataFrame, runs: pd.DataFrame, table: str) -> dict[str, bytes]:
    """PNG (150 dpi) and PDF bytes of :func:`make_figure`."""
    return _to_bytes(make_figure(summ, runs, table))


def render_profile(curves: pd.DataFrame, table: str) -> dict[str, bytes]:
    """PNG and PDF bytes of :func:`make_profile_figure`."""
    return _to_bytes(make_profile_figure(curves, table))
