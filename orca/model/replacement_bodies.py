"""Bodies that replace a backbone's encoder for the controls ``attention1-body`` and ``no-body``
(orca/stages/controls.py), after Tan et al. (NeurIPS 2024, "Are Language Models Actually Useful for Time
Series Forecasting?"): "LLM2Attn" replaces the language model by a single randomly initialised multi-head
attention layer, "w/o LLM" removes it.

Both keep the backbone's input embeddings (so the task embedder starts exactly as naive fine-tuning's
does), its width and family, and return tokens on the embedder's grid (no downsampling), so the head sees
``width`` features per token. forward: (B, T, D), grid -> (B, T, D), grid.
"""
from __future__ import annotations

import torch
from torch import nn


class _Replacement(nn.Module):
    """What the embedder and head read from a body, taken from the replaced one."""

    def __init__(self, replaced: nn.Module):
        super().__init__()
        self.spec, self.config, self.family = replaced.spec, replaced.config, replaced.family
        self._input_embeddings = replaced._input_embeddings
        self._init = replaced.embedding_init()  # what the embedder copies; the replaced encoder is not kept
        self.width = self.out_width = replaced.width
        self.max_positions = replaced.max_positions
        self.image_size = getattr(replaced, "image_size", None)
        self.downsample = 1
        self.rehearsal = getattr(replaced, "rehearsal", False)
        self.attention = getattr(replaced, "attention", None)
        self.weights = None

    @property
    def input_embeddings(self) -> nn.Module:
        return self._input_embeddings[0]

    def embedding_init(self):
        return self._init


class NoBody(_Replacement):
    """No body: the embedder's tokens are the head's input."""

    def forward(self, tokens: torch.Tensor, grid=None):
        return tokens, grid


class AttentionLayerBody(_Replacement):
    """One randomly initialised multi-head self-attention layer (torch's ``nn.MultiheadAttention``) of the body's
    width, with as many heads as the body's first layer; its output replaces the body's hidden states."""

    def __init__(self, replaced: nn.Module, seed: int = 0, dropout: float = 0.0):
        super().__init__(replaced)
        heads = first_layer_heads(replaced.config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.attention_layer = nn.MultiheadAttention(self.width, heads, dropout=dropout, batch_first=True)

    def forward(self, tokens: torch.Tensor, grid=None):
        out, _ = self.attention_layer(tokens, tokens, tokens, need_weights=False)
        return out, grid


def first_layer_heads(config) -> int:
    """The number of attention heads of a transformers config's first layer (BERT-family: num_attention_heads;
    Swin: num_heads[0])."""
    heads = getattr(config, "num_heads", None) or config.num_attention_heads
    return int(heads[0] if isinstance(heads, (list, tuple)) else heads)


def replace_body(body: nn.Module, kind: str, seed: int = 0, dropout: float | None = None) -> nn.Module:
    """``body`` itself for ``pretrained``/``random``; the replacement for ``attention1`` or ``none``."""
    if kind in ("pretrained", "random"):
        return body
    if kind == "attention1":
        return AttentionLayerBody(body, seed, dropout or 0.0)
    if kind == "none":
        return NoBody(body)
    raise ValueError(f"unknown body kind {kind!r}; allowed: pretrained, random, attention1, none")
