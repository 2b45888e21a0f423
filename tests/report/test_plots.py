"""Figures (orca/report/plots.py): the error bars are the tables' t intervals; paper numbers are drawn."""
import numpy as np
import pytest

from orca.report.aggregate import join_published, load_published, load_runs, summarise
from orca.report.plots import make_figure, make_profile_figure, render_figure
from orca.report.profiles import performance_ratios, profile_curves
from orca.report.stats import t_interval
from tests.report.test_report import PUBLISHED, make_runs


@pytest.fixture
def tables(tmp_path):
    runs = load_runs(make_runs(tmp_path / "runs"))
    pub = tmp_path / "pub.csv"
    pub.write_text(PUBLISHED)
    return join_published(summarise(runs), load_published(pub)), runs


def vertical_spans(ax) -> list[tuple[float, float]]:
    """(low, high) of every vertical segment drawn (seaborn draws a bar and its caps as one NaN-separated line)."""
    spans = []
    for line in ax.lines:
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        for i in range(len(x) - 1):
            if x[i] == x[i + 1] and np.isfinite(y[i:i + 2]).all() and y[i] != y[i + 1]:
                spans.append((min(y[i:i + 2]), max(y[i:i + 2])))
    return spans


def test_error_bars_are_the_t_intervals(tables):
    summ, runs = tables
    fig = make_figure(summ, runs, "default")
    axes = {ax.get_title(): ax for ax in fig.axes}
    spans = vertical_spans(axes["iris (title)"])
    for vals in ([0.010, 0.020, 0.030], [0.050, 0.040, 0.090]):  # otdd-exact, no-align on iris
        lo, hi = t_interval(vals)
        assert any(a == pytest.approx(lo) and b == pytest.approx(hi) for a, b in spans), (lo, hi, spans)
    assert len(spans) == 2  # xgboost has one seed: no bar


def test_paper_numbers_are_drawn_including_paper_only_methods(tables):
    summ, runs = tables
    ax = {ax.get_title(): ax for ax in make_figure(summ, runs, "default").axes}["ecg (title)"]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "DASH (paper)" in labels and "FPT (paper)" in labels
    points = np.concatenate([c.get_offsets() for c in ax.collections if c.get_label() == "paper"])
    drawn = {(labels[int(x)], round(float(y), 6)) for x, y in points}
    assert drawn == {("otdd-exact", 0.28), ("DASH (paper)", 0.32), ("FPT (paper)", 0.5)}


def test_profile_figure_and_bytes(tables):
    summ, runs = tables
    curves = profile_curves(performance_ratios(summ))
    fig = make_profile_figure(curves, "default")
    assert fig.axes[0].get_xscale() == "log"
    assert sorted(t.get_text() for t in fig.axes[0].get_legend().get_texts()) == sorted(curves.method.unique())
    out = render_figure(summ, runs, "default")
    assert out["png"][:8] == b"\x89PNG\r\n\x1a\n" and out["pdf"][:5] == b"%PDF-"
