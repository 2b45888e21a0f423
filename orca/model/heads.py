"""Output heads ("predictors"): body hidden states -> task outputs, as the original wrappers build them
(src/embedder.py, wrapper1D/wrapper2D; src/utils.py, adaptive_pooler).

classification / multilabel / regression  PooledHead: mean over tokens, Linear -> (B, K). No dropout: the
    original's body ends in an average pooler and its predictor is a bare Linear (body dropout lives in the
    body's own config, see backbones.body_config).
dense, 1D   TokenPoolHead: no parameters. Each token's D hidden units are average-pooled (adaptive, in
    groups) into K x stack values, the outputs of the ``stack`` positions that token embedded -> (B, K, L).
dense, 2D   MaskedImageHead: Swin's masked-image-modelling decoder (1x1 Conv2d to stride^2 x 3 channels,
    PixelShuffle(stride)) rebuilds a 3-channel image of the embedder's (resized) size; its 3 channels are
    average-pooled into K, then adaptive average pooling gives the target's spatial size -> (B, K, H, W).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PooledHead(nn.Module):
    """(B, T, D) -> (B, K): mean pooling over tokens, linear."""

    def __init__(self, width: int, num_outputs: int):
        super().__init__()
        self.linear = nn.Linear(width, num_outputs)

    def forward(self, hidden: torch.Tensor, grid=None) -> torch.Tensor:
        return self.linear(hidden.mean(dim=1))


class TokenPoolHead(nn.Module):
    """(B, T, D) -> (B, K, T * stack), parameter-free: token t's hidden units, average-pooled into K * stack
    groups, are the K channels' values at positions t * stack ... t * stack + stack - 1."""

    def __init__(self, out_shape: tuple[int, int], stack: int):
        super().__init__()
        self.out_shape = tuple(out_shape)  # (K, L)
        self.stack = stack

    def forward(self, hidden: torch.Tensor, grid=None) -> torch.Tensor:
        b, t, _ = hidden.shape
        k, s = self.out_shape[0], self.stack
        z = F.adaptive_avg_pool1d(hidden, k * s)  # (B, T, K * s): pools over the hidden units
        # K = 1 (every paper row): the original's reshape; K > 1: channel-major, so each channel stays contiguous
        return z.view(b, t, k, s).permute(0, 2, 1, 3).reshape(b, k, t * s)


class MaskedImageHead(nn.Module):
    """(B, h*w, D), grid (h, w) -> (B, K, H, W) through Swin's masked-image-modelling decoder.

    stride: pixels per final token along each side (the embedder's patch size x the body's downsampling;
    Swin-base at 224 px: 4 x 8 = 32 = its config's encoder_stride), so the decoder rebuilds an image of the
    embedder's input size. channels: the decoder's image channels (3, as Swin's config.num_channels).
    """

    def __init__(self, width: int, out_shape: tuple[int, int, int], stride: int, channels: int = 3):
        super().__init__()
        self.out_shape = tuple(out_shape)  # (K, H, W)
        self.decoder = nn.Sequential(nn.Conv2d(width, stride ** 2 * channels, kernel_size=1), nn.PixelShuffle(stride))
        # as Hugging Face initialises the (not pretrained) decoder of SwinForMaskedImageModeling
        nn.init.normal_(self.decoder[0].weight, std=0.02)
        nn.init.zeros_(self.decoder[0].bias)

    def forward(self, hidden: torch.Tensor, grid) -> torch.Tensor:
        b, _, d = hidden.shape
        h, w = grid
        image = self.decoder(hidden.transpose(1, 2).reshape(b, d, h, w))  # (B, 3, h * stride, w * stride)
        c, size = image.shape[1], image.shape[2:]
        pixels = F.adaptive_avg_pool1d(image.reshape(b, c, -1).transpose(1, 2), self.out_shape[0])  # (B, HW, K)
        image = pixels.transpose(1, 2).reshape(b, self.out_shape[0], *size)
        return F.adaptive_avg_pool2d(image, self.out_shape[1:])


def build_head(kind: str, width: int, out_shape: tuple[int, ...], stack: int | None = None,
               stride: int | None = None) -> nn.Module:
    """kind: classification | multilabel | regression -> out_shape (K,); dense -> (K, L) or (K, H, W).

    stack: positions per token of a 1D embedder (1D dense); stride: pixels per final token side (2D dense).
    """
    if kind in ("classification", "multilabel", "regression"):
        return PooledHead(width, int(math.prod(out_shape)))
    if kind == "dense":
        if len(out_shape) == 2:
            if stack is None:
                raise ValueError("a 1d dense head needs the embedder's stack number")
            return TokenPoolHead(out_shape, stack)
        if len(out_shape) == 3:
            if stride is None:
                raise ValueError("a 2d dense head needs the pixels per token (patch size x body downsampling)")
            return MaskedImageHead(width, out_shape, stride)
        raise ValueError(f"dense outputs must be (K, L) or (K, H, W) per sample, got {tuple(out_shape)}")
    raise ValueError(f"unknown output kind {kind!r}; allowed: classification, multilabel, regression, dense")
