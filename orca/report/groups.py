"""Which runs are compared with which: the grouping keys of a run and the groups of rows that compete.

Shared by aggregate (best marks), compare (paired statistics) and profiles; kept apart from them so
that none of them needs another for it.
"""
from __future__ import annotations

import pandas as pd

GROUP_KEYS = ["table", "task", "backbone", "method", "protocol"]
NO_BACKBONE = {"-", "", "none"}  # classical baselines: they compete in every backbone's group


def competition_groups(summ: pd.DataFrame) -> list[tuple[str, str, str, pd.Index]]:
    """The rows that compete with each other: (table, task, backbone, row index) per task, backbone and
    evaluation protocol.

    Rows without a backbone (classical baselines) compete in every backbone and protocol group of their task;
    a task with only such rows is one group with backbone ''. Published-only rows and rows without a
    mean never compete.
    """
    kind = summ["row_kind"] if "row_kind" in summ else pd.Series("run", index=summ.index)
    ours = summ[kind.eq("run") & summ["mean"].notna()]
    groups = []
    for (table, task), t in ours.groupby(["table", "task"], sort=False):
        free = t["backbone"].astype(str).isin(NO_BACKBONE)
        proto = t["protocol"] if "protocol" in t else pd.Series("clean", index=t.index)
        cells = t.loc[~free, ["backbone"]].assign(protocol=proto[~free]).drop_duplicates()
        if cells.empty:
            groups.append((table, task, "", t.index))
        for b, p in cells.itertuples(index=False):
            groups.append((table, task, b, t.index[free | ((t["backbone"] == b) & (proto == p))]))
    return groups
