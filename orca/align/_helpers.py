"""Small tensor helpers shared by the aligners (private; the public names live in orca.align.distances)."""
from __future__ import annotations

import math

import torch

def _sqdist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances. x (..., n, D), y (..., m, D) -> (..., n, m) >= 0."""
    xx = (x * x).sum(-1)
    yy = (y * y).sum(-1)
    d = xx.unsqueeze(-1) + yy.unsqueeze(-2) - 2.0 * (x @ y.transpose(-1, -2))
    return d.clamp_min(0.0)


def _relabel(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """y (N,) int labels -> (classes (K,) sorted unique labels, idx (N,) in 0..K-1)."""
    classes, idx = torch.unique(y, sorted=True, return_inverse=True)
    return classes, idx


def _padded_classes(x: torch.Tensor, idx: torch.Tensor, k: int):
    """Group rows of x (N, D) by class index idx (N,) into a padded batch.

    Returns xs (K, nmax, D) (padding rows = 0), logw (K, nmax) log uniform weights per class
    (-inf on padding), counts (K,).
    """
    counts = torch.bincount(idx, minlength=k)
    nmax = int(counts.max())
    order = torch.argsort(idx, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(x.shape[0], device=x.device) - starts[idx[order]]
    xs = x.new_zeros(k, nmax, x.shape[1])
    xs[idx[order], pos] = x[order]
    logw = torch.full((k, nmax), -math.inf, dtype=x.dtype, device=x.device)
    logw[idx[order], pos] = -torch.log(counts[idx[order]].to(x.dtype))
    return xs, logw, counts


def _subsample(x: torch.Tensor, y: torch.Tensor, max_rows: int | None, seed: int):
    """Keep at most max_rows rows of (x (N, D), y (N,)), chosen with a fixed-seed generator."""
    if max_rows is None or x.shape[0] <= max_rows:
        return x, y
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(x.shape[0], generator=g)[:max_rows].sort().values.to(x.device)
    return x[keep], y[keep]
