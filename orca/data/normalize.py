"""Input/target standardisation declared in a task file (``data.normalize``), fitted on the training split only.

Each of ``data.normalize.inputs`` / ``data.normalize.targets`` is one of:

* ``fit``: one mean/std per channel (axis 1 of (N, C, ...)), over the training samples and all
  positions; the same as ``{fit: channel}``.
* ``{fit: channel | element, channels: [0, ...], eps: 1.0e-5}``: ``element`` fits one mean/std per
  position (over the training samples), FNO's pointwise ``UnitGaussianNormalizer`` as ORCA uses it
  for Darcy Flow and 1D CFD; ``channels`` restricts the fit to those channels (the others pass
  through unchanged); ``eps`` (default 1e-5, as FNO) is added to the std.
* ``{mean: [...], std: [...]}``: fixed per-channel values (one value: every channel), e.g. CIFAR-100's.
* targets only: ``inputs``: reuse the fitted input normaliser (targets shaped like the inputs; ORCA's 1D CFD).

std is the unbiased sample std (ddof = 1, as ``torch.std``). ``encode(a) = (a - mean) / scale`` with
``scale = std + eps``; ``decode`` is its inverse. Targets entries a task ignores (``output.ignore``)
do not enter the fit.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_EPS", "Normalizer", "fit_normalizer"]

DEFAULT_EPS = 1e-5


@dataclass(frozen=True)
class Normalizer:
    """Affine standardisation. ``mean``/``scale`` (float32) broadcast against a batch (N, *sample_shape):
    shape (C, 1, ...) for per-channel statistics, the sample shape for per-element ones."""

    mean: np.ndarray
    scale: np.ndarray

    def encode(self, a: np.ndarray) -> np.ndarray:
        """(N, *sample) raw values -> standardised float32."""
        return ((np.asarray(a, dtype=np.float32) - self.mean) / self.scale).astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """(N, *sample) standardised values -> raw scale, float32."""
        return (np.asarray(z, dtype=np.float32) * self.scale + self.mean).astype(np.float32)

    def torch_decoder(self, device) -> Callable:
        """``decode`` for torch tensors on ``device`` (differentiable; used on model outputs)."""
        import torch

        mean = torch.from_numpy(self.mean).to(device)
        scale = torch.from_numpy(self.scale).to(device)
        return lambda z: z * scale.to(z.dtype) + mean.to(z.dtype)


def _as_batch(a: np.ndarray) -> np.ndarray:
    """(N,) -> (N, 1) so that axis 1 is always the channel axis."""
    a = np.asarray(a, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def _channel_shape(num_channels: int, sample_ndim: int) -> tuple[int, ...]:
    return (num_channels,) + (1,) * (sample_ndim - 1)


def _spec(spec) -> dict:
    """The canonical mapping form of a spec (``fit`` -> {fit: channel})."""
    if spec == "fit":
        return {"fit": "channel"}
    if isinstance(spec, dict) and ("fit" in spec or "mean" in spec):
        return dict(spec)
    raise ValueError(f"a normalisation must be 'fit', {{fit: channel|element, ...}} or {{mean: [...], std: [...]}}; "
                     f"got {spec!r}")


def _fixed(spec: dict, num_channels: int, sample_ndim: int) -> Normalizer:
    mean = np.asarray(spec["mean"], dtype=np.float64).reshape(-1)
    std = np.asarray(spec["std"], dtype=np.float64).reshape(-1)
    if len(mean) != len(std):
        raise ValueError(f"{len(mean)} means but {len(std)} stds")
    if len(mean) not in (1, num_channels):
        raise ValueError(f"{len(mean)} means/stds for data with {num_channels} channels; give one per channel")
    if (std <= 0).any():
        raise ValueError(f"every std must be > 0, got {std.tolist()}")
    shape = _channel_shape(num_channels, sample_ndim)
    return Normalizer(np.broadcast_to(mean, num_channels).reshape(shape).astype(np.float32),
                      np.broadcast_to(std, num_channels).reshape(shape).astype(np.float32))


def fit_normalizer(spec, train: np.ndarray, valid: np.ndarray | None = None) -> Normalizer:
    """Fit ``spec`` (see the module docstring) on the training array ``train`` (N, C, ...) or (N,).

    ``valid``: optional bool array of ``train``'s shape, True where an entry counts (ignored targets
    are False). Raises ValueError naming the problem (too few samples, bad channel index, ...).
    """
    a = _as_batch(train)
    sample_ndim, num_channels = a.ndim - 1, a.shape[1]
    spec = _spec(spec)
    if "mean" in spec:
        return _fixed(spec, num_channels, sample_ndim)
    channels = spec.get("channels")
    chosen = list(range(num_channels)) if channels is None else [int(c) for c in channels]
    bad = [c for c in chosen if not 0 <= c < num_channels]
    if bad:
        raise ValueError(f"channels {bad} do not exist: the data have {num_channels} channels (0..{num_channels - 1})")
    if valid is not None:
        a = np.where(_as_batch(valid).astype(bool), a, np.nan)
    if spec["fit"] == "element":
        mean, std = _nanstats(a, axis=0)  # (C, ...) sample shape
    else:
        per_channel = np.moveaxis(a, 1, 0).reshape(num_channels, -1)
        m, s = _nanstats(per_channel, axis=1)
        mean, std = m.reshape(_channel_shape(num_channels, sample_ndim)), s.reshape(_channel_shape(num_channels,
                                                                                                   sample_ndim))
    eps = float(spec.get("eps", DEFAULT_EPS))
    keep = np.zeros(num_channels, dtype=bool)
    keep[chosen] = True
    keep = keep.reshape(_channel_shape(num_channels, sample_ndim))
    mean = np.where(keep, mean, 0.0)
    scale = np.where(keep, std + eps, 1.0)
    if not (np.isfinite(mean).all() and np.isfinite(scale).all()) or (scale <= 0).any():
        raise ValueError("too few training values to fit a mean and std (need 2 per channel/element)")
    return Normalizer(np.ascontiguousarray(mean, dtype=np.float32), np.ascontiguousarray(scale, dtype=np.float32))


def _nanstats(a: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased std along ``axis`` ignoring NaN; NaN where fewer than 2 values."""
    count = np.sum(~np.isnan(a), axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(a, axis=axis) / count
        dev = np.where(np.isnan(a), 0.0, a - np.expand_dims(mean, axis))
        std = np.sqrt(np.sum(dev**2, axis=axis) / (count - 1))
    std = np.where(count >= 2, std, np.nan)
    return mean, std
