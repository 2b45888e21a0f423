"""Output heads ("predictors"): body hidden states -> task outputs, one head per output kind.

classification / multilabel / regression: mean over tokens, dropout, Linear -> (B, K)
dense: a Linear per token that unfolds each token into a block of outputs, then resizes the
token grid to the target's spatial shape -> (B, K, L) or (B, K, H, W)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PooledHead(nn.Module):
    """(B, T, D) -> (B, K): mean pooling over tokens, dropout, linear."""

    def __init__(self, width: int, num_outputs: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(width, num_outputs)

    def forward(self, hidden: torch.Tensor, grid=None) -> torch.Tensor:
        return self.linear(self.dropout(hidden.mean(dim=1)))


class DenseHead(nn.Module):
    """(B, T, D) -> (B, K, *spatial). Each token predicts a block of ``block`` positions per output channel;
    the token grid (1D: T, 2D: (h, w)) is unfolded and resized (linear interpolation) to ``out_shape``."""

    def __init__(self, width: int, out_shape: tuple[int, ...], num_tokens_hint: int, dropout: float = 0.0):
        super().__init__()
        self.out_shape = tuple(out_shape)  # (K, L) or (K, H, W)
        spatial = math.prod(self.out_shape[1:])
        per_dim = max(1, round((spatial / max(num_tokens_hint, 1)) ** (1 / (len(self.out_shape) - 1))))
        self.block = per_dim
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(width, self.out_shape[0] * per_dim ** (len(self.out_shape) - 1))

    def forward(self, hidden: torch.Tensor, grid=None) -> torch.Tensor:
        b, t, _ = hidden.shape
        k, r = self.out_shape[0], self.block
        z = self.linear(self.dropout(hidden))  # (B, T, K * r^dims)
        if len(self.out_shape) == 2:
            z = z.view(b, t, k, r).permute(0, 2, 1, 3).reshape(b, k, t * r)
            return F.interpolate(z, size=self.out_shape[1], mode="linear", align_corners=False)
        h, w = grid
        z = z.view(b, h, w, k, r, r).permute(0, 3, 1, 4, 2, 5).reshape(b, k, h * r, w * r)
        return F.interpolate(z, size=self.out_shape[1:], mode="bilinear", align_corners=False)


def build_head(kind: str, width: int, out_shape: tuple[int, ...], num_tokens: int, dropout: float = 0.0) -> nn.Module:
    """kind: classification | multilabel | regression -> out_shape (K,); dense -> (K, L) or (K, H, W)."""
    if kind in ("classification", "multilabel", "regression"):
        return PooledHead(width, int(math.prod(out_shape)), dropout)
    if kind == "dense":
        return DenseHead(width, out_shape, num_tokens, dropout)
    raise ValueError(f"unknown output kind {kind!r}; allowed: classification, multilabel, regression, dense")
