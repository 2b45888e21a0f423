"""Scoring predictions as a task file asks: ignored target entries and per-clip grouping.

* ``output.ignore`` = ``{nan: true}`` and/or ``{value: -1}``: target entries that are NaN / equal to
  the value are missing (PSICOV's unknown distances, Cosmic's ignore map); they enter neither the loss
  nor the metric. :func:`ignore_mask` gives the entries that count.
* ``eval.group_by`` = the name of a per-sample id array (e.g. ``clip_ids``): the model's raw outputs
  are averaged over the samples of each id and the metric is computed over ids (NAS-Bench-360 /
  ORCA FSD50K: mean of the 1-s chunk logits per clip, then 1 - mAP over clips).
* protocols (orca.spec.protocols): :func:`make_scorer` scores the whole set (``clean``) or, as the released
  code's ``evaluate`` does, averages the metric over chunks of ``eval_batch_size`` samples (``original``).
"""
from __future__ import annotations

import numpy as np

from ..data.targets import ignore_mask
from .metrics import Metric

__all__ = ["chunk_bounds", "chunked_score", "group_mean", "make_scorer", "score"]


def group_mean(y_true: np.ndarray, y_score: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average ``y_score`` (N, ...) over the samples of each id in ``groups`` (N,).

    Returns (targets (G, ...), mean scores (G, ...)) with the G ids in order of first appearance.
    Every sample of an id must carry the same target (ValueError naming the id otherwise).
    """
    groups = np.asarray(groups).reshape(-1)
    y_true, s = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    if not len(groups) == len(y_true) == len(s):
        raise ValueError(f"{len(groups)} group ids for {len(y_true)} targets and {len(s)} predictions")
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    gid = rank[inverse.reshape(-1)]
    sums = np.zeros((len(order),) + s.shape[1:])
    np.add.at(sums, gid, s)
    counts = np.bincount(gid, minlength=len(order)).reshape((-1,) + (1,) * (s.ndim - 1))
    y_group = y_true[first[order]]
    same = (y_true == y_group[gid]) | (_isnan(y_true) & _isnan(y_group[gid]))
    bad = ~same.reshape(len(y_true), -1).all(axis=1)
    if bad.any():
        raise ValueError(f"samples of group {groups[np.flatnonzero(bad)[0]].tolist()!r} have different targets; "
                         "every sample of a group must carry its group's target")
    return y_group, sums / counts


def _isnan(a: np.ndarray) -> np.ndarray:
    return np.isnan(a) if np.issubdtype(a.dtype, np.floating) else np.zeros(a.shape, dtype=bool)


def score(metric: Metric, y_true: np.ndarray, y_score: np.ndarray, groups: np.ndarray | None = None,
          ignore: dict | None = None, **options) -> float:
    """``metric`` of the predictions; grouped by ``groups`` and skipping ignored targets when given.

    With neither it is exactly ``float(metric.fn(y_true, y_score))``; ``options`` go to the metric.
    """
    if groups is not None:
        y_true, y_score = group_mean(y_true, y_score, groups)
    valid = ignore_mask(y_true, ignore)
    if valid is None:
        return float(metric.fn(y_true, y_score, **options))
    return float(metric(y_true, y_score, mask=valid, **options))


def chunk_bounds(n: int, loader_batch: int, eval_batch_size: int) -> list[tuple[int, int]]:
    """The released ORCA ``evaluate``'s chunks of ``n`` samples, as (start, stop) pairs: loader batches of
    ``loader_batch`` samples are accumulated until they hold ``eval_batch_size`` or more, so every chunk
    has ceil(eval_batch_size / loader_batch) * loader_batch samples except the last (what is left)."""
    if n < 1 or loader_batch < 1 or eval_batch_size < 1:
        raise ValueError(f"chunk_bounds needs n, loader_batch and eval_batch_size >= 1, got {n}, {loader_batch}, "
                         f"{eval_batch_size}")
    size = -(-eval_batch_size // loader_batch) * loader_batch
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def chunked_score(metric: Metric, y_true: np.ndarray, y_score: np.ndarray, loader_batch: int, eval_batch_size: int,
                  ignore: dict | None = None, **options) -> float:
    """Unweighted mean over :func:`chunk_bounds` chunks of :func:`score` on each chunk (ORCA's ``evaluate``:
    ``eval_score += metric(chunk)`` then ``/= n_chunks``); not the metric of the whole set."""
    parts = [score(metric, y_true[a:b], y_score[a:b], ignore=ignore, **options)
             for a, b in chunk_bounds(len(y_true), loader_batch, eval_batch_size)]
    return float(np.mean(parts))


def make_scorer(metric_name: str, protocol, *, batch_size: int, eval_batch_size: int, ignore: dict | None = None,
                original_crop: dict | None = None, crop_lengths: np.ndarray | None = None):
    """``scorer(y_true, y_score, groups=None) -> float`` of a task's metric under an evaluation protocol.

    ``clean``: :func:`score` of the whole set. ``original``: the metric's released implementation
    (``get_metric(name, "original")``), averaged over ``eval_batch_size`` chunks of ``batch_size`` loader
    batches (the task's ``refine`` settings; grouped scoring, e.g. FSD50K clips, is one whole-set score in the
    original too); ``crop_lengths`` (the test list's ``eval.original_crop.lengths`` array) and
    ``original_crop["offset"]`` go to the metric (PSICOV MAE8's crop). ``ignore``: the task's ``output.ignore``.
    """
    from .metrics import get_metric
    from ..spec.protocols import get_protocol

    p = get_protocol(protocol)
    metric = get_metric(metric_name, p.metric_variant)
    options = {}
    if p.metric_variant == "original" and original_crop:
        if crop_lengths is None:
            raise ValueError(f"eval.original_crop needs the per-sample array {original_crop['lengths']}_test in the data")
        options = {"lengths": np.asarray(crop_lengths).reshape(-1), "offset": int(original_crop.get("offset", 0))}

    def scorer(y_true: np.ndarray, y_score: np.ndarray, groups: np.ndarray | None = None) -> float:
        if p.chunked_metric and groups is None:
            return chunked_score(metric, y_true, y_score, batch_size, eval_batch_size, ignore, **options)
        return score(metric, y_true, y_score, groups=groups, ignore=ignore, **options)

    return scorer
