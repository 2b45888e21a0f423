"""The cost plot: GPU-hours per table on one device class, stacked by stage."""
from __future__ import annotations

from pathlib import Path

STAGES = ("sources", "align", "refine")


def plot_cost(summary: list[dict], device_class: str, path: str | Path) -> Path:
    """A stacked bar per table (sources, align, refine GPU-hours on ``device_class``) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = sorted({s["table"] for s in summary}, key=[s["table"] for s in summary].index)
    hours = {(s["table"], s["stage"]): s[f"gpu_h_{device_class}"] for s in summary}
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(tables) + 2), 3.2))
    bottom = [0.0] * len(tables)
    for stage in STAGES:
        values = [hours.get((t, stage), 0.0) for t in tables]
        ax.bar(tables, values, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel(f"GPU-hours ({device_class}, estimated)")
    ax.set_title("What each table costs (orca cost)")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return Path(path)
