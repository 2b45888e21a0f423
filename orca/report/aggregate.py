"""Per-run result JSON files -> one summary row per (table, task, backbone, method).

A run file is what the harness writes after one (task, backbone, method, protocol, seed) run; see
``load_runs`` for the fields read (a file without ``protocol`` is a ``clean`` run). ``summarise``
aggregates seeds (mean, sample std) per evaluation protocol and refuses to mix runs made with
different settings or to count a seed twice.
``join_published`` puts the paper's number beside ours, never inventing one; with ``published_tables`` also the
numbers of follow-up papers (their own tables in published.csv, e.g. ``RECRAFT_NB360``) beside ORCA's.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..stages.records import read_record
from .groups import GROUP_KEYS, NO_BACKBONE, competition_groups  # noqa: F401 - re-exported

__all__ = [
    "GROUP_KEYS", "SCORES", "METRIC_TO_PUBLISHED", "DEFAULT_METHOD_MAP", "FOLLOWUP_METHOD_MAP", "SUMMARY_COLUMNS",
    "metric_label", "published_metric_label", "load_runs", "summarise", "load_published", "join_published",
    "protocol_comparison",
]

SCORES = ("test_at_best_val", "test_last_epoch", "best_val", "best_epoch", "test_best_epoch_original")
SELECTED = "selected"  # summarise(score=...): each protocol's own reported score (orca.spec.protocols.selected_score)

# our metric name -> the metric string used in published.csv (same quantity, same units)
METRIC_TO_PUBLISHED: dict[str, str] = {
    "zero_one_error_pct": "0-1 error (%)",
    "one_minus_auroc": "1-AUROC",
    "one_minus_auroc_multilabel": "1-AUROC",
    "one_minus_auroc_pixel": "1-AUROC",
    "one_minus_macro_f1": "1-F1 score",
    "one_minus_map": "1-mAP",
    "one_minus_r2": "1-R^2",
    "relative_l2": "relative l2",
    "nrmse": "nRMSE",
    "mae8": "MAE8",
}



def metric_label(metric: str, display: str | None = None) -> str:
    """The one label a metric carries in every table: its display name in ``orca.evaluation.metrics``
    (``METRICS``, e.g. ``1 - AUROC``); ``display`` (else the name) for a metric outside that registry."""
    from ..evaluation.metrics import METRICS

    known = METRICS.get(metric)
    return known.display if known is not None else (display or metric)


def published_metric_label(published: str) -> str:
    """The label of a published.csv metric string in our tables: the :func:`metric_label` of the metrics that
    :data:`METRIC_TO_PUBLISHED` maps to it (``1-AUROC`` -> ``1 - AUROC``), else the string itself."""
    labels = {metric_label(m) for m, p in METRIC_TO_PUBLISHED.items() if p == published}
    if len(labels) > 1:  # two different quantities printed alike: no label can stand for both
        raise ValueError(f"published metric {published!r} maps to several labels: {sorted(labels)}")
    return labels.pop() if labels else published


# our method name -> the paper's method name, used when a run's published_key has no "method".
# ORCA's default aligner is OTDD with the exact label distance; the frozen-body control is the paper's FPT row.
DEFAULT_METHOD_MAP: dict[str, str] = {"orca": "ORCA", "otdd-exact": "ORCA", "frozen-body": "FPT"}

# our method -> the row a follow-up paper prints for its own method, looked up only in the follow-up tables a report
# shows (``join_published(published_tables=...)``): our run of a follow-up's method is compared with that paper's
# own number, never with another paper's re-run of it (a follow-up's rows for ORCA and other methods are shown as
# published-only rows). benchmarks/published/README.md lists the follow-up tables.
FOLLOWUP_METHOD_MAP: dict[str, str] = {"recraft": "RECRAFT"}

SUMMARY_COLUMNS = [
    "table", "task", "task_title", "backbone", "method", "protocol", "metric", "metric_display",
    "higher_is_better", "score", "mean", "std", "n_seeds", "seeds", "best",
    "ci95_t_low", "ci95_t_high", "paired_reference", "paired_diff", "paired_ci95_t_low", "paired_ci95_t_high",
    "paired_n", "paired_verdict", "tied_with_best", "wall_time_s",
    "settings_hash", "git_commits", "mixed_commits", "git_dirty", "run_files_dir",
    "published_table", "published_task", "published_method", "published_value",
    "published_note", "diff_vs_published", "row_kind",
]


def _read_one(path: Path, default_table: str | None = None) -> dict:
    r = read_record(path).to_json()  # ValueError naming the file when a required field is missing
    if r.get("table") is None and default_table is not None:
        r["table"] = default_table
    if "table" not in r:
        raise ValueError(f"run file {path}: missing fields ['table']")
    prov = r.get("provenance") or {}
    pk = r.get("published_key") or {}
    row = {
        "table": r["table"], "task": r["task"], "task_title": r.get("task_title") or r["task"],
        "suite": r.get("suite"), "backbone": r["backbone"], "method": r["method"],
        "protocol": r.get("protocol") or "clean", "seed": int(r["seed"]), "metric": r["metric"],
        "metric_display": r.get("metric_display") or r["metric"],
        "higher_is_better": bool(r.get("higher_is_better", False)),
        "wall_time_s": float(r["wall_time_s"]) if r.get("wall_time_s") is not None else np.nan,
        "settings_hash": str(r["settings_hash"]),
        "published_table": pk.get("table"), "published_task": pk.get("task"),
        "published_method": pk.get("method"),
        "git_commit": prov.get("git_commit") or "unknown",
        "git_dirty": bool(prov.get("git_dirty", False)),
        "run_file": prov.get("run_file") or str(path),
        "path": str(path),
    }
    for s in SCORES:
        v = r["scores"].get(s)
        row[s] = float(v) if v is not None else np.nan
    row[SELECTED] = row[_selected_score(row["protocol"])]  # the protocol's own reported score
    return row


def _selected_score(protocol: str) -> str:
    from ..spec.protocols import selected_score

    return selected_score(protocol)


def load_runs(paths: Iterable[str | os.PathLike], default_table: str | None = None) -> pd.DataFrame:
    """Read run JSON files into one row per run (columns: see ``_read_one``; scores flattened).

    A run without a ``table`` field gets ``default_table`` (error if that is None too).
    """
    rows = [_read_one(Path(p), default_table) for p in paths]
    if not rows:
        raise ValueError("load_runs: no run files given")
    return pd.DataFrame(rows)


def _group_name(key) -> str:
    return "/".join(str(k) for k in key)


def _fmt_seeds(seeds) -> str:
    return ",".join(str(s) for s in sorted(seeds))


def summarise(df: pd.DataFrame, score: str = SELECTED, reference: str = "none") -> pd.DataFrame:
    """One row per (table, task, backbone, method, protocol): mean, sample std (ddof=1) over seeds, ...

    ``score``: a name of :data:`SCORES`, or ``"selected"``: each protocol's own reported score
    (``test_at_best_val`` for ``clean``, ``test_best_epoch_original`` for ``original``; ``load_runs`` gives
    it a column); the ``score`` column names the one used. Raises ValueError when a group mixes settings
    hashes or metrics, or repeats a seed. A ``best`` column marks the best mean per (table, task, backbone,
    protocol), honouring ``higher_is_better`` (ties are all marked). ``compare.add_statistics`` adds the 95% t
    intervals, the paired comparison with ``reference`` (within a protocol) and the bold rule (``tied_with_best``).
    """
    from ..spec.protocols import selected_score
    from .compare import add_statistics

    if score not in SCORES and score != SELECTED:
        raise ValueError(f"unknown score {score!r}; allowed: {SELECTED}, {', '.join(SCORES)}")
    out = []
    requested = score
    if "protocol" not in df:
        df = df.assign(protocol="clean")
    if requested == SELECTED and SELECTED not in df:
        df = df.assign(**{SELECTED: [r[selected_score(r["protocol"])] for _, r in df.iterrows()]})
    for key, g in df.groupby(GROUP_KEYS, sort=True, dropna=False):
        score = selected_score(key[4]) if requested == SELECTED else requested
        out.append(_summary_row(key, g, score))
    summ = pd.DataFrame(out)
    summ["best"] = _mark_best(summ)
    return add_statistics(summ, df, requested, reference)


def _checked_scores(name: str, g: pd.DataFrame, score: str) -> np.ndarray:
    """One group's ``score`` values, one per seed; ValueError when its runs mix settings hashes, metrics or
    directions, repeat a seed, or lack the score."""
    hashes = sorted(g["settings_hash"].unique())
    if len(hashes) > 1:
        detail = "; ".join(f"{h}: {sorted(g.loc[g.settings_hash == h, 'path'])}" for h in hashes)
        raise ValueError(f"refusing to aggregate {name}: runs have different settings_hash ({detail})")
    for col in ("metric", "higher_is_better"):
        if g[col].nunique() > 1:
            raise ValueError(f"refusing to aggregate {name}: runs disagree on {col}: {sorted(g[col].unique())}")
    dup = g["seed"][g["seed"].duplicated()].unique()
    if len(dup):
        files = sorted(g.loc[g.seed.isin(dup), "path"])
        raise ValueError(f"refusing to aggregate {name}: duplicate seeds {sorted(dup)} in {files}")
    vals = g[score].to_numpy(dtype=float)
    if np.isnan(vals).any():
        bad = sorted(g.loc[g[score].isna(), "path"])
        raise ValueError(f"{name}: score {score!r} missing in {bad}")
    return vals


def _summary_row(key: tuple, g: pd.DataFrame, score: str) -> dict:
    """The summary of one (table, task, backbone, method, protocol) group of runs."""
    vals = _checked_scores(_group_name(key), g, score)
    commits = sorted(g["git_commit"].unique())
    first = g.iloc[0]

    def only(col: str):
        values = g[col].dropna().unique()
        return values[0] if len(values) == 1 else None

    return {
        "table": key[0], "task": key[1], "task_title": first["task_title"], "backbone": key[2],
        "method": key[3], "protocol": key[4], "metric": first["metric"], "metric_display": first["metric_display"],
        "higher_is_better": bool(first["higher_is_better"]), "score": score,
        "mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else np.nan,
        "n_seeds": int(len(vals)), "seeds": _fmt_seeds(g["seed"]),
        "wall_time_s": float(g["wall_time_s"].mean()), "settings_hash": first["settings_hash"],
        "git_commits": "+".join(commits), "mixed_commits": len(commits) > 1,
        "git_dirty": bool(g["git_dirty"].any()),
        "run_files_dir": os.path.commonpath(list(g["run_file"])) if len(g) > 1 else os.path.dirname(first["run_file"]),
        "published_table": only("published_table"), "published_task": only("published_task"),
        "published_method": only("published_method"),
    }


def _mark_best(summ: pd.DataFrame) -> pd.Series:
    """True for the best mean per (table, task, backbone, protocol) (see ``competition_groups``; ties all marked)."""
    best = pd.Series(False, index=summ.index)
    for _, _, _, idx in competition_groups(summ):
        g = summ.loc[idx]
        hib = bool(g["higher_is_better"].iloc[0])
        target = g["mean"].max() if hib else g["mean"].min()
        best.loc[g.index[np.isclose(g["mean"], target, rtol=1e-12, atol=0.0)]] = True
    return best


# ----------------------------------------------------------------------------- published
def load_published(csv_path: str | os.PathLike) -> pd.DataFrame:
    """Read published.csv; ``value`` becomes float (NaN where the paper has none or not a number),
    the raw text is kept in ``value_raw``; ``higher_is_better`` becomes bool; ``uncertain`` flags
    numbers read off a chart."""
    pub = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    need = {"table", "task", "method", "metric", "value", "higher_is_better"}
    if not need <= set(pub.columns):
        raise ValueError(f"{csv_path}: needs columns {sorted(need)}")
    pub["value_raw"] = pub["value"]
    pub["value"] = pd.to_numeric(pub["value"].str.strip(), errors="coerce")
    pub["higher_is_better"] = pub["higher_is_better"].str.strip().str.lower().isin(["yes", "true", "1"])
    notes = pub["notes"] if "notes" in pub.columns else pd.Series("", index=pub.index)
    pub["notes"] = notes
    pub["uncertain"] = notes.str.contains("uncertain", case=False)
    return pub


def join_published(summ: pd.DataFrame, published: pd.DataFrame | None,
                   method_map: Mapping[str, str] | None = None, published_tables: Sequence[str] | None = None,
                   followup_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Add the paper's number beside ours and append published-only rows.

    A summary row is matched to the published row with the same (published_table,
    published_task) as its runs' ``published_key``, the paper method and the same metric
    (:data:`METRIC_TO_PUBLISHED`). The paper method is ``method_map[method]`` (default
    :data:`DEFAULT_METHOD_MAP`); a ``published_key.method`` renames it for that task, but only
    for methods the map covers (a task's key is shared by all its methods, ablations included).
    Methods outside the map get no paper number.
    ``diff_vs_published = mean - published_value``.
    Every published row of a referenced (table, task) that no run matched is appended with an
    empty ``mean`` (``row_kind = "published_only"``). Output columns: :data:`SUMMARY_COLUMNS`.
    ``metric_display`` is one label per metric, ours and the paper's alike: :func:`metric_label` of a run row's
    metric, :func:`published_metric_label` of a published row's (published.csv writes ``1-AUROC``, our
    metrics ``1 - AUROC``: one task's rows would otherwise carry two labels).

    ``published_tables``: follow-up papers' tables shown beside ORCA's (the follow-ups table's, e.g.
    ``RECRAFT_NB360``). A follow-up table names each task as the run's key table does, so a run keyed
    (``NB360_main``, ``ECG``) also refers to (``RECRAFT_NB360``, ``ECG``): a run whose method
    ``followup_map`` (default :data:`FOLLOWUP_METHOD_MAP`) sends to a row of that table gets that row's number
    (and ``published_table`` names it) when the key table gave it none; every other row of those tables is
    appended as a published-only row, renamed ``method (table)`` where its name is already one of that
    task's paper rows. None or empty: the key tables only (the paper tables' behaviour).
    """
    method_map = dict(DEFAULT_METHOD_MAP if method_map is None else method_map)
    followup_map = dict(FOLLOWUP_METHOD_MAP if followup_map is None else followup_map)
    also = tuple(dict.fromkeys(published_tables or ()))
    s = summ.copy()
    s["metric_display"] = [metric_label(m, d) for m, d in zip(s["metric"], s["metric_display"])]
    s["row_kind"] = "run"
    for c in ("published_value", "diff_vs_published"):
        s[c] = np.nan
    s["published_note"] = ""
    for c in ("published_table", "published_task", "published_method"):
        if c not in s:
            s[c] = None
    if published is None or s["published_table"].isna().all():
        s["published_method"] = None
        return _finish(s)

    refs = _published_refs(s, also)  # before matching: a follow-up match renames a row's published_table
    used = _match_published(s, published, method_map, also, followup_map)
    extra = _published_only_rows(refs, published, used)
    if extra:
        s = pd.concat([s, pd.DataFrame(extra)], ignore_index=True)
    return _finish(s)


def _published_note(p: pd.Series) -> str:
    if pd.isna(p["value"]):
        return f"paper reports {p['value_raw'] or 'no number'}"
    return "uncertain (read off a chart)" if p["uncertain"] else ""


def _match_published(s: pd.DataFrame, published: pd.DataFrame, method_map: Mapping[str, str],
                     also: Sequence[str] = (), followup_map: Mapping[str, str] | None = None) -> set:
    """Fill ``s``'s published_method, published_value, published_note and diff_vs_published in place (see
    :func:`join_published`); returns the index labels of the published rows used. The run's key table is tried
    first (``method_map``), then each follow-up table of ``also`` (``followup_map``); the first row found wins."""
    used = set()
    followup_map = followup_map or {}
    for i, r in s.iterrows():
        if pd.isna(r["published_table"]) or pd.isna(r["published_task"]):
            continue
        pm = method_map.get(r["method"])
        if pm is not None and isinstance(r["published_method"], str):
            pm = r["published_method"]  # the task names the paper row its ORCA runs compare with
        s.at[i, "published_method"] = pm
        tries = [(r["published_table"], pm)] + [(t, followup_map.get(r["method"])) for t in also
                                               if t != r["published_table"]]
        note = tried = None
        for table, method in tries:
            if method is None:
                continue
            tried = tried or method
            cand = published[(published.table == table) & (published.task == r["published_task"])
                             & (published.method == method)]
            if cand.empty:
                note = note or "no published row"
                continue
            same = cand[cand.metric == METRIC_TO_PUBLISHED.get(r["metric"])]
            if same.empty:
                note = note or f"metric differs (paper: {cand.metric.iloc[0]})"
                continue
            p = same.iloc[0]
            used.add(p.name)
            s.at[i, "published_table"], s.at[i, "published_method"] = table, method
            s.at[i, "published_value"] = p["value"]
            s.at[i, "published_note"] = _published_note(p)
            if not pd.isna(p["value"]):
                s.at[i, "diff_vs_published"] = r["mean"] - p["value"]
            break
        else:
            if note is not None:
                s.at[i, "published_method"], s.at[i, "published_note"] = tried, note
    return used


def _published_refs(s: pd.DataFrame, also: Sequence[str] = ()) -> pd.DataFrame:
    """The (table, published table, published task) pairs ``s``'s runs refer to, one row each with the first run
    row's task, title, metric and score: each run's key, then the same task in each follow-up table of ``also``."""
    keyed = s.dropna(subset=["published_table", "published_task"])
    refs = keyed.groupby(["table", "published_table", "published_task"], sort=False).first().reset_index()
    if not also:
        return refs
    out = []
    for _, ref in refs.iterrows():
        out.append(ref)
        for t in also:
            if t != ref["published_table"]:
                follow = ref.copy()
                follow["published_table"] = t
                out.append(follow)
    return pd.DataFrame(out).drop_duplicates(["table", "published_table", "published_task"]).reset_index(drop=True)


def _published_only_rows(refs: pd.DataFrame, published: pd.DataFrame, used: set) -> list[dict]:
    """Rows for the published entries of the (table, task) pairs of ``refs`` (:func:`_published_refs`) that no run
    matched. A row of a later table whose method name an earlier table's row of the same task already showed is
    renamed ``method (table)``, so that each paper row of a task keeps its own line."""
    extra = []
    shown: dict[tuple, dict[str, set]] = {}  # (table, task) -> published table -> the names its rows were shown by
    for _, ref in refs.iterrows():
        pubs = published[(published.table == ref["published_table"]) & (published.task == ref["published_task"])]
        tables = shown.setdefault((ref["table"], ref["task"]), {})
        earlier = set().union(*(n for t, n in tables.items() if t != ref["published_table"]))
        names = tables.setdefault(ref["published_table"], set())
        for j, p in pubs.iterrows():
            label = f"{p['method']} ({p['table']})" if p["method"] in earlier else p["method"]
            names.add(label)
            if j in used:
                continue
            extra.append({
                "table": ref["table"], "task": ref["task"], "task_title": ref["task_title"],
                "backbone": "", "method": label, "protocol": "", "metric": ref["metric"],
                "metric_display": published_metric_label(p["metric"]), "higher_is_better": bool(p["higher_is_better"]),
                "score": ref["score"], "mean": np.nan, "std": np.nan, "n_seeds": 0, "seeds": "",
                "best": False, "ci95_t_low": np.nan, "ci95_t_high": np.nan, "paired_reference": "",
                "paired_diff": np.nan, "paired_ci95_t_low": np.nan, "paired_ci95_t_high": np.nan, "paired_n": 0,
                "paired_verdict": "", "tied_with_best": False, "wall_time_s": np.nan, "settings_hash": "",
                "git_commits": "", "mixed_commits": False, "git_dirty": False, "run_files_dir": "",
                "published_table": p["table"], "published_task": p["task"], "published_method": p["method"],
                "published_value": p["value"], "published_note": _published_note(p),
                "diff_vs_published": np.nan, "row_kind": "published_only",
            })
    return extra


def _finish(s: pd.DataFrame) -> pd.DataFrame:
    s["best"] = _mark_best(s)
    s["_order"] = s["row_kind"].eq("published_only").astype(int)
    s = s.sort_values(["table", "task", "_order", "backbone", "method", "protocol"], kind="stable").drop(columns="_order")
    return s[SUMMARY_COLUMNS].reset_index(drop=True)


def finite(x) -> bool:
    """True for a real, finite number."""
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def protocol_comparison(summ: pd.DataFrame) -> pd.DataFrame:
    """One row per (table, task, backbone, method) run under both protocols: the published number, ours under
    ``original`` and under ``clean`` (each protocol's score and seed mean) and ``original_minus_clean``.
    Empty when no cell ran both protocols."""
    cols = ["table", "task", "task_title", "backbone", "method", "metric_display", "published_value",
            "original", "clean", "original_minus_clean"]
    ours = summ[summ["row_kind"].eq("run")] if "row_kind" in summ else summ
    keys = ["table", "task", "backbone", "method"]
    wide = ours.pivot_table(index=keys, columns="protocol", values="mean", aggfunc="first")
    if not {"original", "clean"} <= set(wide.columns):
        return pd.DataFrame(columns=cols)
    wide = wide.dropna(subset=["original", "clean"]).reset_index()
    first = ours.drop_duplicates(keys).set_index(keys)
    wide["task_title"] = [first.at[tuple(k), "task_title"] for k in wide[keys].to_numpy()]
    wide["metric_display"] = [first.at[tuple(k), "metric_display"] for k in wide[keys].to_numpy()]
    pub = ours.groupby(keys)["published_value"].first() if "published_value" in ours else None
    wide["published_value"] = [pub.get(tuple(k), np.nan) if pub is not None else np.nan for k in wide[keys].to_numpy()]
    wide["original_minus_clean"] = wide["original"] - wide["clean"]
    return wide[cols].reset_index(drop=True)
