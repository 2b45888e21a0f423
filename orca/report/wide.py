"""The paper's layout of a table: methods as rows, tasks as columns, one compact cell (the pivot; no text).

``aggregate.join_published`` gives one row per task x backbone x method x protocol (the long form, kept as
``results/NAME.csv`` and the appendix ``reports/NAME_long.{md,tex}``). :func:`wide_blocks` pivots it into one
:class:`Block` per evaluation protocol, the shape of the paper's Table 2 (NAS-Bench-360) and its PDEBench
table:

- rows (:class:`Row`): our methods in table order (aligners in the catalogue's order, then other network
  methods, controls, classical baselines), then the paper's methods we did not run (``published.csv`` order,
  the paper's own row order). A row of ours that the paper has a number for is named with that paper method
  (``otdd-exact`` -> ``ORCA``, ``frozen-body`` -> ``FPT``: ``aggregate.DEFAULT_METHOD_MAP``). When a task ran
  on more than one backbone (the ablation) a row is one backbone x method.
- columns (:class:`Column`): the tasks in table order (the order of the run files, i.e. the config's), each
  with its one metric label (``aggregate.metric_label``) and direction.
- cells (:class:`Cell`): ours (mean over seeds, 95% t interval, n seeds, bold by ``compare.BOLD_RULE``
  within the block's protocol, mixed commits) and the paper's number for the row's paper method.

A block has the protocol's rows of ours; classical baselines (fit on the clean split, no protocol of their
own) and the paper's rows stand in every block. The bold marks are recomputed per block (a baseline competes
in each protocol's group and is bold only where it ties that group's best).

With more than :data:`MAX_TASK_COLUMNS` tasks (OpenML: 42) a methods x tasks table is too wide for a page;
``Block.transposed`` tells the renderers to put tasks as rows and methods as columns, as the per-dataset
tables of tabular-benchmark papers do (the ORCA paper itself prints only the OpenML averages, which the
``summary`` section gives). :func:`protocol_difference` is the same pivot of ``original - clean``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from .aggregate import finite, protocol_comparison
from .groups import NO_BACKBONE, competition_groups

__all__ = ["MAX_TASK_COLUMNS", "PROTOCOL_ORDER", "NO_NUMBER", "Cell", "Column", "Row", "Block", "wide_blocks",
           "protocol_difference", "method_sort_key"]

#: above this many tasks a block is transposed (tasks as rows, methods as columns)
MAX_TASK_COLUMNS = 12
#: blocks in this order (the paper's protocol first), other protocols after, by name
PROTOCOL_ORDER = ("original", "clean")
#: what a cell shows where the paper prints no number
NO_NUMBER = "–"
#: row kinds, in the order they are listed (``Row.kind``)
KINDS = ("aligner", "network", "control", "baseline", "paper")


@dataclass(frozen=True)
class Cell:
    """One cell: ours (``mean`` NaN where we have none) and the paper's number (``paper`` NaN where none).

    ``paper_text``: what the paper prints instead of a number (e.g. ``-``); ``paper_label``: the paper's metric
    label where it is not the column's (then the number is in other units and says so); ``signed``: a
    difference (rendered with its sign)."""

    mean: float = math.nan
    low: float = math.nan
    high: float = math.nan
    n_seeds: int = 0
    bold: bool = False
    mixed_commits: bool = False
    paper: float = math.nan
    paper_uncertain: bool = False
    paper_text: str = ""
    paper_label: str = ""
    signed: bool = False

    @property
    def ours(self) -> bool:
        return finite(self.mean)

    @property
    def has_paper(self) -> bool:
        return finite(self.paper) or bool(self.paper_text)


@dataclass(frozen=True)
class Column:
    """A task: its id, title, metric label, direction, and the backbones its rows of ours ran on."""

    task: str
    title: str
    metric: str
    higher_is_better: bool
    backbones: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """A method (one backbone x method when ``Block.split_backbones``): ``kind`` one of :data:`KINDS`;
    ``paper_methods``: the paper methods whose numbers its cells carry."""

    key: tuple[str, str, str]  # (kind, backbone or "", method)
    kind: str
    method: str
    backbone: str = ""
    paper_methods: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``method``, ``method (paper method)`` for a row of ours the paper has numbers for, ``method (paper)``
        for a row of the paper's numbers only."""
        if self.kind == "paper":
            return f"{self.method} (paper)"
        if self.paper_methods:
            return f"{self.method} ({'/'.join(self.paper_methods)})"
        return self.method


@dataclass
class Block:
    """One protocol's table: ``rows`` x ``columns``, ``cells[(row.key, column.task)]`` (absent = empty)."""

    protocol: str
    score: str
    columns: list[Column]
    rows: list[Row]
    cells: dict[tuple, Cell] = field(default_factory=dict)
    split_backbones: bool = False
    transposed: bool = False
    borrowed_baselines: bool = False  # baselines shown here ran under another protocol (clean)

    def cell(self, row: Row, column: Column) -> Cell | None:
        return self.cells.get((row.key, column.task))


# ----------------------------------------------------------------------------- order
def _first_seen(values) -> dict:
    return {v: i for i, v in enumerate(dict.fromkeys(values))}


def method_sort_key(method: str, kind: str, seen: dict | None = None) -> tuple:
    """Sort key of a method of ours: its kind (:data:`KINDS`), its place among the registered methods of that kind
    (their ``order``, orca/methods), its first appearance in the run files, its name."""
    from ..align.catalog import epoch_variant
    from ..methods import all_methods

    registry_kind = {"aligner": "align", "control": "control"}.get(kind)
    catalogue = sorted((m.order, n) for n, m in all_methods().items() if m.kind == registry_kind)
    places = {n: i for i, (_, n) in enumerate(catalogue)}
    base, epochs = epoch_variant(method)  # otdd-exact-e5 right after otdd-exact, by its align epochs
    place = places.get(base, len(places))
    return (KINDS.index(kind), place, math.inf if epochs is None else epochs, (seen or {}).get(method, math.inf),
            method)


def _kind(method: str, backbone: str) -> str:
    from ..align.catalog import epoch_variant
    from ..methods import all_methods

    if str(backbone) in NO_BACKBONE:
        return "baseline"
    found = all_methods().get(epoch_variant(method)[0])
    if found is None:
        return "network"
    return "aligner" if found.kind == "align" else "control"


def _protocols(ours: pd.DataFrame) -> list[str]:
    network = ours[~ours["backbone"].astype(str).isin(NO_BACKBONE)]
    found = set((network if len(network) else ours)["protocol"].astype(str)) or {"clean"}
    return [p for p in PROTOCOL_ORDER if p in found] + sorted(found - set(PROTOCOL_ORDER))


def _columns(summ: pd.DataFrame, task_order: dict) -> list[Column]:
    ours = summ[summ["row_kind"] == "run"]
    first = summ.drop_duplicates("task").set_index("task")
    tasks = sorted(first.index, key=lambda t: (task_order.get(t, math.inf), list(first.index).index(t)))
    out = []
    for t in tasks:
        mine = ours[ours["task"] == t]
        head = mine.iloc[0] if len(mine) else first.loc[t]
        backbones = tuple(dict.fromkeys(b for b in mine["backbone"].astype(str) if b not in NO_BACKBONE))
        out.append(Column(t, str(head["task_title"]), str(head["metric_display"]), bool(head["higher_is_better"]),
                          backbones))
    return out


def _paper_order(summ: pd.DataFrame, published: pd.DataFrame | None) -> dict:
    methods = list(dict.fromkeys(summ.loc[summ["row_kind"] == "published_only", "method"]))
    if published is not None and len(published):
        seen = _first_seen(published["method"])
        return {m: (seen.get(m, math.inf), m) for m in methods}
    return {m: (0, m) for m in methods}


# ----------------------------------------------------------------------------- bold
def _bold(summ: pd.DataFrame, scores: dict | None) -> dict[str, set]:
    """protocol -> index labels of ``summ`` bold in that protocol's block (``compare.BOLD_RULE`` per competition
    group; without ``scores`` a row's own ``tied_with_best``)."""
    from .compare import tied_with_best  # the bold rule itself, applied to one group at a time

    out: dict[str, set] = {}
    for _, _, _, idx in competition_groups(summ):
        g = summ.loc[idx]
        network = g[~g["backbone"].astype(str).isin(NO_BACKBONE)]
        protocol = str(network["protocol"].iloc[0]) if len(network) else "*"  # baselines only: every block
        if scores is None:
            tied = g.index[g["tied_with_best"].astype(bool)]
        else:
            flags = tied_with_best(g, scores)
            tied = flags.index[flags]
        out.setdefault(protocol, set()).update(tied)
    return out


# ----------------------------------------------------------------------------- the pivot
def _paper_words(note: str) -> str:
    """What the paper prints instead of a number, from ``aggregate._published_note`` ('paper reports X')."""
    said = note[len("paper reports "):] if note.startswith("paper reports ") else ""
    return NO_NUMBER if said in ("no number", "-") else said


def _ours_cell(r: pd.Series, bold: bool) -> Cell:
    paper_text = "" if finite(r["published_value"]) else _paper_words(str(r["published_note"]))
    return Cell(mean=float(r["mean"]), low=float(r["ci95_t_low"]), high=float(r["ci95_t_high"]),
                n_seeds=int(r["n_seeds"]), bold=bold, mixed_commits=bool(r["mixed_commits"]),
                paper=float(r["published_value"]) if finite(r["published_value"]) else math.nan,
                paper_uncertain="uncertain" in str(r["published_note"]), paper_text=paper_text)


def _paper_cell(r: pd.Series, column: Column) -> Cell:
    label = str(r["metric_display"])
    value = float(r["published_value"]) if finite(r["published_value"]) else math.nan
    text = "" if finite(value) else _paper_words(str(r["published_note"]))
    return Cell(paper=value, paper_uncertain="uncertain" in str(r["published_note"]), paper_text=text,
                paper_label="" if label == column.metric else label)


def _row_key(key: tuple, backbone_seen: dict, seen: dict, paper_order: dict) -> tuple:
    """Ours per backbone (aligners, other networks, controls), then the baselines, then the paper's rows."""
    kind, backbone, method = key
    if kind == "paper":
        return (2, 0, paper_order.get(method, (math.inf, method)))
    if kind == "baseline":
        return (1, 0, method_sort_key(method, kind, seen))
    return (0, backbone_seen.get(backbone, math.inf), method_sort_key(method, kind, seen))


def wide_blocks(summ: pd.DataFrame, runs: pd.DataFrame | None = None, score: str | None = None,
                published: pd.DataFrame | None = None, max_task_columns: int = MAX_TASK_COLUMNS) -> list[Block]:
    """One :class:`Block` per evaluation protocol of ``summ`` (``join_published`` rows; see the module docstring).

    ``runs`` (``load_runs`` rows, in the run files' order): the task order and the per-seed scores of the bold
    rule (``score``: the name ``summarise`` was given, default ``selected``); without them tasks keep
    ``summ``'s order and each row its own ``tied_with_best``. ``published`` (``load_published``): the order of
    the paper's rows. Deterministic: the same inputs give the same blocks."""
    from .compare import seed_scores

    if "row_kind" not in summ:
        summ = summ.assign(row_kind="run")
    summ = summ.reset_index(drop=True)
    ours = summ[(summ["row_kind"] == "run") & summ["mean"].notna()]
    paper = summ[summ["row_kind"] == "published_only"]
    task_order = _first_seen(runs["task"]) if runs is not None else {}
    seen = _first_seen(runs["method"]) if runs is not None else _first_seen(summ["method"])
    backbone_seen = _first_seen(runs["backbone"]) if runs is not None else _first_seen(summ["backbone"])
    scores = seed_scores(runs, score or "selected") if runs is not None else None
    columns = _columns(summ, task_order)
    by_task = {c.task: c for c in columns}
    split = any(len(c.backbones) > 1 for c in columns)
    bold = _bold(summ, scores)
    paper_order = _paper_order(summ, published)

    blocks = []
    for protocol in _protocols(ours):
        free = ours["backbone"].astype(str).isin(NO_BACKBONE)
        mine = ours[(~free & (ours["protocol"] == protocol)) | free]
        # a baseline run under this protocol wins over its clean fit
        mine = mine.assign(_own=(mine["protocol"] != protocol).astype(int)).sort_values("_own", kind="stable")
        mine = mine[~mine.duplicated(["task", "backbone", "method"])]
        rows: dict[tuple, dict] = {}
        cells: dict[tuple, Cell] = {}
        for i, r in mine.iterrows():
            kind = _kind(r["method"], r["backbone"])
            backbone = str(r["backbone"]) if split and kind != "baseline" else ""
            key = (kind, backbone, r["method"])
            info = rows.setdefault(key, {"paper": {}})
            cell = _ours_cell(r, i in bold.get(protocol, set()) | bold.get("*", set()))
            if cell.has_paper and isinstance(r["published_method"], str):
                info["paper"].setdefault(r["published_method"], None)
            cells[(key, r["task"])] = cell
        for _, r in paper.iterrows():
            key = ("paper", "", r["method"])
            rows.setdefault(key, {"paper": {}})
            cells[(key, r["task"])] = _paper_cell(r, by_task[r["task"]])
        ordered = sorted(rows, key=lambda k: _row_key(k, backbone_seen, seen, paper_order))
        score_used = mine.loc[mine["protocol"] == protocol, "score"]
        blocks.append(Block(
            protocol=protocol, score=str(score_used.iloc[0]) if len(score_used) else "",
            columns=columns, rows=[Row(k, k[0], k[2], k[1], tuple(rows[k]["paper"])) for k in ordered],
            cells=cells, split_backbones=split, transposed=len(columns) > max_task_columns,
            borrowed_baselines=bool((mine["protocol"] != protocol).any())))
    return blocks


def protocol_difference(summ: pd.DataFrame, blocks: list[Block]) -> Block | None:
    """``original - clean`` (seed means) per row of ours and task that ran both protocols, in the layout of
    ``blocks`` (their columns; their rows of ours that have a difference); None when no cell ran both."""
    cmp = protocol_comparison(summ) if "protocol" in summ else pd.DataFrame()
    if cmp.empty or not blocks:
        return None
    first = blocks[0]
    cells = {}
    for _, r in cmp.iterrows():
        kind = _kind(r["method"], r["backbone"])
        key = (kind, str(r["backbone"]) if first.split_backbones and kind != "baseline" else "", r["method"])
        cells[(key, r["task"])] = Cell(mean=float(r["original_minus_clean"]), n_seeds=0, signed=True)
    rows = [Row(row.key, row.kind, row.method, row.backbone) for row in first.rows
            if any((row.key, c.task) in cells for c in first.columns)]
    return Block(protocol="original - clean", score="", columns=first.columns, rows=rows, cells=cells,
                 split_backbones=first.split_backbones, transposed=first.transposed)
