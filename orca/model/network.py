"""The ORCA target model: embedder -> pretrained body -> head."""
from __future__ import annotations

import math

import torch
from torch import nn

from .embedders import build_embedder
from .heads import build_head


class OrcaModel(nn.Module):
    """x (B, C, L) or (B, C, H, W) -> outputs (B, K) or dense (B, K, ...)."""

    def __init__(self, embedder: nn.Module, body: nn.Module, head: nn.Module):
        super().__init__()
        self.embedder = embedder
        self.body = body
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, grid = self.embedder(x)
        hidden, grid = self.body(tokens, grid)
        return self.head(hidden, grid)


def output_shape(kind: str, num_outputs: int, y_sample_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Per-sample output shape: (K,) for pooled kinds, the target's own shape for dense outputs."""
    if kind == "dense":
        return tuple(y_sample_shape)
    return (num_outputs,)


def count_tokens(embedder: nn.Module, sample_shape: tuple[int, ...]) -> int:
    if getattr(embedder, "grid", None):
        return math.prod(embedder.grid)
    return embedder.num_tokens


def build_model(body, modality: str, sample_shape: tuple[int, ...], embedder_settings: dict,
                kind: str, out_shape: tuple[int, ...], dropout: float = 0.0) -> OrcaModel:
    """Assemble embedder (initialised from the body), body and head for one task."""
    embedder = build_embedder(modality, sample_shape, body.embedding_init(), embedder_settings)
    num_tokens = count_tokens(embedder, sample_shape)
    if body.family == "image" and getattr(embedder, "grid", None):
        g = embedder.grid
        num_tokens = math.prod(-(-s // body.downsample) for s in g)
    head = build_head(kind, body.out_width, out_shape, num_tokens, dropout)
    return OrcaModel(embedder, body, head)
