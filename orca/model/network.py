"""The ORCA target model: embedder -> body (pretrained or random) -> head."""
from __future__ import annotations

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


def _dense_geometry(embedder: nn.Module, body, modality: str, out_shape: tuple[int, ...]) -> dict:
    """What a dense head needs from the embedder and body: 1D the stack number, 2D the pixels per final token."""
    if modality == "1d":
        if len(out_shape) != 2:
            raise ValueError(f"a 1d dense task needs (K, L) targets per sample, got {tuple(out_shape)}")
        covered = embedder.num_tokens * embedder.stack
        if out_shape[1] != covered:
            raise ValueError(
                f"1d dense outputs come from the tokens: {embedder.num_tokens} tokens x stack {embedder.stack} = "
                f"{covered} positions, but the targets have {out_shape[1]}; the input and target lengths must match")
        return {"stack": embedder.stack}
    if len(out_shape) != 3:
        raise ValueError(f"a 2d dense task needs (K, H, W) targets per sample, got {tuple(out_shape)}")
    return {"stride": embedder.patch_size * getattr(body, "downsample", 1)}


def build_model(body, modality: str, sample_shape: tuple[int, ...], embedder_settings: dict,
                kind: str, out_shape: tuple[int, ...], transfer: bool = True) -> OrcaModel:
    """Assemble embedder (initialised from the body; ``transfer``: see embedders), body and head for one task."""
    embedder = build_embedder(modality, sample_shape, body.embedding_init(), embedder_settings, transfer)
    geometry = _dense_geometry(embedder, body, modality, out_shape) if kind == "dense" else {}
    head = build_head(kind, body.out_width, out_shape, **geometry)
    return OrcaModel(embedder, body, head)
