"""Task-specific embedders: target inputs -> token embeddings of the body's width.

Embedder1D  (B, C, L)    -> (B, T, D), T = L / stack <= target_seq_len (Conv1d, kernel = stride = stack)
Embedder2D  (B, C, H, W) -> (B, h*w, D) with grid (h, w) = (S / p, S / p) after resizing to S x S
Both return ``(tokens, grid)``; grid is None for 1D. Order as in the original (src/embedder.py,
Embeddings1D/Embeddings2D): project, LayerNorm, then add position embeddings (text bodies only).
The projection starts xavier-uniform (gain sqrt 2, bias 0; src/utils.py, conv_init).

``transfer`` (the original's ``embedder_init(..., train_embedder=embedder_epochs > 0)``): when the embedder
will be aligned, it copies the body's LayerNorm, and a 2D embedder on Swin tiles the body's patch-projection
weights across input channels; without alignment the LayerNorm stays at 1/0 and a Conv2d projection is redrawn
truncated-normal (std 0.02, bias 0). Position embeddings are copied from a text body either way. The body's
tensors come as an ``EmbeddingInit`` (``body.embedding_init()``, or the file the source-features rule saves).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def stack_number(length: int, target_seq_len: int) -> int:
    """Smallest divisor s of ``length`` with length / s <= target_seq_len (the paper's stack number)."""
    if length < 1 or target_seq_len < 1:
        raise ValueError(f"length and target_seq_len must be positive, got {length}, {target_seq_len}")
    for s in range(1, length + 1):
        if length % s == 0 and length // s <= target_seq_len:
            return s
    return length


def init_projection(conv: nn.Module) -> nn.Module:
    """The original's conv_init: xavier-uniform weight with gain sqrt(2), zero bias."""
    nn.init.xavier_uniform_(conv.weight, gain=math.sqrt(2))
    nn.init.zeros_(conv.bias)
    return conv


class Embedder1D(nn.Module):
    """Conv1d patching, LayerNorm, + learned positions. (B, C, L) -> (B, L // stack, D)."""

    def __init__(self, in_channels: int, length: int, width: int, target_seq_len: int,
                 max_positions: int | None = None):
        super().__init__()
        self.stack = stack_number(length, target_seq_len)
        self.num_tokens = length // self.stack
        if max_positions is not None and self.num_tokens > max_positions:
            raise ValueError(
                f"{self.num_tokens} tokens exceed the body's {max_positions} positions; "
                "lower embedder.target_seq_len in the task file"
            )
        self.projection = init_projection(nn.Conv1d(in_channels, width, kernel_size=self.stack, stride=self.stack))
        self.position_embeddings = nn.Embedding(self.num_tokens, width)
        self.norm = nn.LayerNorm(width)

    def init_from(self, init, transfer: bool = True) -> "Embedder1D":
        """Copy the first positions' embeddings of a text body (an EmbeddingInit), and its LayerNorm if ``transfer``."""
        with torch.no_grad():
            self.position_embeddings.weight.copy_(init.positions[: self.num_tokens])
            if transfer:
                self.norm.load_state_dict(init.layernorm)
        return self

    def forward(self, x: torch.Tensor):
        tokens = self.norm(self.projection(x).transpose(1, 2))  # (B, T, D)
        return tokens + self.position_embeddings.weight.unsqueeze(0), None


class Embedder2D(nn.Module):
    """Resize, Conv2d patch projection, LayerNorm (+ positions on text bodies). (B, C, H, W) -> (B, h*w, D)."""

    def __init__(self, in_channels: int, width: int, patch_size: int, image_size: int | None,
                 input_hw: tuple[int, int], with_positions: bool):
        super().__init__()
        self.image_size = image_size
        self.patch_size = patch_size
        h, w = (image_size, image_size) if image_size else input_hw
        if h % patch_size or w % patch_size:
            raise ValueError(f"image {h}x{w} is not divisible by patch_size {patch_size}; change embedder.patch_size")
        self.grid = (h // patch_size, w // patch_size)
        self.projection = init_projection(nn.Conv2d(in_channels, width, kernel_size=patch_size, stride=patch_size))
        self.norm = nn.LayerNorm(width)
        n = self.grid[0] * self.grid[1]
        self.position_embeddings = nn.Embedding(n, width) if with_positions else None

    def init_from(self, init, transfer: bool = True) -> "Embedder2D":
        """transfer: copy the body's LayerNorm; on Swin also tile its patch weights (D, 3, p, p) over our C input
        channels and copy its bias. Without transfer the projection is redrawn trunc-normal(0.02) as the original
        does for Conv2d embedders. Text bodies: positions copied as the 1D embedder does."""
        with torch.no_grad():
            if transfer:
                self.norm.load_state_dict(init.layernorm)
            if init.family == "text":
                n = self.position_embeddings.weight.shape[0]
                self.position_embeddings.weight.copy_(init.positions[:n])
            if not transfer:
                nn.init.trunc_normal_(self.projection.weight, std=0.02, a=-2.0, b=2.0)
                nn.init.zeros_(self.projection.bias)
            elif init.family == "image":
                w = init.patch_weight
                p = self.projection.weight.shape[-1]
                if w.shape[-1] != p:
                    w = F.interpolate(w, size=(p, p), mode="bilinear", align_corners=False)
                c = self.projection.weight.shape[1]
                self.projection.weight.copy_(w.repeat(1, -(-c // w.shape[1]), 1, 1)[:, :c])
                self.projection.bias.copy_(init.patch_bias)
        return self

    def forward(self, x: torch.Tensor):
        if self.image_size and tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        tokens = self.norm(self.projection(x).flatten(2).transpose(1, 2))  # (B, h*w, D)
        if self.position_embeddings is not None:
            tokens = tokens + self.position_embeddings.weight.unsqueeze(0)
        return tokens, self.grid


def build_embedder(modality: str, sample_shape: tuple[int, ...], init, settings,
                   transfer: bool = True) -> nn.Module:
    """The embedder for one task on one body, initialised from the body's ``EmbeddingInit``.

    sample_shape: (C, L) for modality "1d", (C, H, W) for "2d". settings: the task's ``embedder`` section
    (orca.spec.tasks.EmbedderSpec). transfer: copy the body's tensors (the embedder will be aligned); see the module docstring.
    """
    if modality == "1d":
        if len(sample_shape) != 2:
            raise ValueError(f"1d inputs must be (C, L) per sample, got {tuple(sample_shape)}")
        if init.family != "text":
            raise ValueError(f"a 1d task needs a text-family backbone, got {init.name!r} ({init.family})")
        emb = Embedder1D(sample_shape[0], sample_shape[1], init.width, settings.target_seq_len, init.max_positions)
    elif modality == "2d":
        if len(sample_shape) != 3:
            raise ValueError(f"2d inputs must be (C, H, W) per sample, got {tuple(sample_shape)}")
        image_size = settings.image_size or init.image_size
        emb = Embedder2D(sample_shape[0], init.width, settings.patch_size, image_size,
                         tuple(sample_shape[1:]), with_positions=init.family == "text")
    else:
        raise ValueError(f"unknown modality {modality!r}; allowed: 1d, 2d")
    return emb.init_from(init, transfer)
