"""Training-time augmentation declared in a task file (``refine.augment``), applied per training batch in refine.

Never applied to validation or test inputs, never in align. Supported (2D inputs (N, C, H, W) only):

* ``random_crop: {padding: P, fill: 0.0}``: pad every side by P pixels with ``fill`` and crop back to
  H x W at a uniformly drawn offset (torchvision ``RandomCrop((H, W), padding=P)``). ``fill`` is in raw
  input units (before ``data.normalize``; default 0: ORCA's zero padding of [0, 1] pixels); with fixed
  ``data.normalize.inputs`` {mean, std} it is encoded the same way, so the model sees what ORCA's
  pad -> normalise order gives.
* ``hflip: true``: mirror along W with probability 1/2 per sample.

Order: crop, then flip. Random draws come from a generator seeded by (run seed, epoch, batch index), so a
run is reproducible on CPU, a resumed run draws what an uninterrupted one draws, and the batch order
(refine's own generator) is the same with and without augmentation.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where tensors are made: checking a task file needs none
    import torch

from ..data.normalize import fit_normalizer

__all__ = ["check_augment", "make_augmenter", "batch_generator", "random_crop", "hflip"]

_STREAM = 0x0A06  # keeps these draws apart from other seeded streams


def check_augment(aug: dict | None, modality: str, normalize_inputs=None) -> None:
    """Raise ValueError naming the field when a task's ``refine.augment`` (``aug``) cannot be applied to its
    data: ``modality`` is input.modality, ``normalize_inputs`` is data.normalize.inputs (None: unset)."""
    aug = aug or {}
    for key in aug:
        if modality != "2d":
            raise ValueError(f"refine.augment.{key} needs 2D inputs (N, C, H, W), but input.modality is "
                             f"{modality!r}; remove refine.augment.{key}")
    norm = normalize_inputs
    if "random_crop" in aug and norm and not (isinstance(norm, dict) and "mean" in norm):
        raise ValueError("refine.augment.random_crop pads with 'fill' in raw input units, which can only be "
                         "encoded with fixed data.normalize.inputs {mean, std} (or none); got fitted statistics "
                         f"{norm!r}")


def batch_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    """A CPU generator for one training batch, a pure function of (seed, epoch, batch) (0-based)."""
    import torch

    entropy = [_STREAM, int(seed) & (2**64 - 1), int(epoch), int(batch)]
    state = np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def random_crop(x: torch.Tensor, padding: int, fill: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W): each sample padded by ``padding`` pixels per side with ``fill`` (C,)
    and cropped back to H x W at an offset drawn uniformly from {0..2 * padding}^2 (rows, cols)."""
    import torch

    n, c, h, w = x.shape
    p = int(padding)
    padded = fill.to(x).view(1, c, 1, 1).expand(n, c, h + 2 * p, w + 2 * p).clone()
    padded[:, :, p: p + h, p: p + w] = x
    offsets = torch.randint(0, 2 * p + 1, (n, 2), generator=gen)
    rows = (offsets[:, :1] + torch.arange(h)).to(x.device)  # (N, H)
    cols = (offsets[:, 1:] + torch.arange(w)).to(x.device)  # (N, W)
    ni = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    ci = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[ni, ci, rows[:, None, :, None], cols[:, None, None, :]]


def hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(N, C, H, W) -> same shape: each sample mirrored along W (last axis) with probability 1/2."""
    import torch

    flip = (torch.rand(len(x), generator=gen) < 0.5).to(x.device).view(-1, *([1] * (x.ndim - 1)))
    return torch.where(flip, x.flip(-1), x)


def pad_value(fill: float, normalize_inputs, num_channels: int) -> torch.Tensor:
    """(C,) float32: the raw padding value ``fill`` as the model sees it (encoded by fixed data.normalize.inputs)."""
    import torch

    raw = np.full((1, num_channels, 1, 1), fill, dtype=np.float32)
    if normalize_inputs:
        raw = fit_normalizer(normalize_inputs, raw).encode(raw)
    return torch.from_numpy(np.ascontiguousarray(raw).reshape(num_channels))


def make_augmenter(aug: dict | None, seed: int, num_channels: int, modality: str = "2d",
                   normalize_inputs=None) -> Callable[[torch.Tensor, int, int], torch.Tensor]:
    """``augment(x, epoch, batch) -> x'`` for a task's ``refine.augment`` (``aug``; identity when unset).

    x: one training batch (N, C, H, W) (inputs as refine sees them, i.e. after data.normalize, which is
    ``normalize_inputs``: data.normalize.inputs).
    """

    aug = aug or {}
    if not aug:
        return lambda x, epoch, batch: x
    check_augment(aug, modality, normalize_inputs)
    crop = aug.get("random_crop")
    fill = None
    if crop:
        fill = pad_value(float(crop.get("fill", 0.0)), normalize_inputs, num_channels)

    def augment(x: torch.Tensor, epoch: int, batch: int) -> torch.Tensor:
        gen = batch_generator(seed, epoch, batch)
        if crop:
            x = random_crop(x, crop["padding"], fill, gen)
        if aug.get("hflip"):
            x = hflip(x, gen)
        return x

    return augment
