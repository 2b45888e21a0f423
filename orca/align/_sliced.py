"""Sliced OTDD (otdd-sliced): augmented points and exact 1-D quantile W2 (see the distances docstring)."""
from __future__ import annotations

import math

import torch

from ._helpers import _relabel
from ._moments import Aligner

class OTDDSlicedAligner(Aligner):
    """Sliced OTDD on the augmented (feature, class mean, class std) space (module docstring).

    Options: ``n_projections`` K (256), ``projection_seed`` (0), max_source, seed (subsampling);
    the Sinkhorn / MMD options of the other aligners are accepted and ignored.
    """

    name = "otdd-sliced"

    def __init__(self, max_source=None, seed=0, n_projections=256, projection_seed=0, **other):
        super().__init__(max_source, seed, **other)
        if int(n_projections) < 1:
            raise ValueError("n_projections must be >= 1")
        self.n_projections = int(n_projections)
        self.projection_seed = int(projection_seed)

    @staticmethod
    def _class_embedding(x: torch.Tensor, idx: torch.Tensor, k: int) -> torch.Tensor:
        """x (N, D) float64, idx (N,) in 0..k-1 -> (k, 2D) rows [mean, sqrt(diag 1/n cov)]."""
        counts = torch.bincount(idx, minlength=k).to(x.dtype).clamp_min(1.0)
        mean = x.new_zeros(k, x.shape[1]).index_add(0, idx, x) / counts[:, None]
        var = x.new_zeros(k, x.shape[1]).index_add(0, idx, (x - mean[idx]) ** 2) / counts[:, None]
        floor = 1e-24 * (1.0 + var.detach().amax())
        std = torch.where(var > floor, var.clamp_min(floor).sqrt(), 0.0)
        return torch.cat([mean, std], 1)

    def directions(self, d_aug: int) -> torch.Tensor:
        """(d_aug, K) float64 unit directions, orthonormal within blocks of d_aug columns."""
        g = torch.Generator().manual_seed(self.projection_seed)
        blocks, left = [], self.n_projections
        while left > 0:
            b = min(left, d_aug)
            q, r = torch.linalg.qr(torch.randn(d_aug, b, generator=g, dtype=torch.float64))
            blocks.append(q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, 1.0))
            left -= b
        return torch.cat(blocks, 1)

    def augment(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(N, D), (N,) -> (N, 3D) float64 augmented points z(x, y) (for tests / inspection)."""
        _, idx = _relabel(y)
        x = x.to(torch.float64)
        phi = self._class_embedding(x, idx, int(idx.max()) + 1)
        return torch.cat([x, phi[idx]], 1) / math.sqrt(2.0)

    def _project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Projections (N, K) float64 of the augmented points, without forming z (N, 3D)."""
        _, idx = _relabel(y)
        x = x.to(torch.float64)
        phi = self._class_embedding(x, idx, int(idx.max()) + 1)
        th = self.theta.to(x.device)
        d = x.shape[1]
        return (x @ th[:d] + (phi @ th[d:])[idx]) / math.sqrt(2.0)

    def _prepare(self, x, y):
        d = x.shape[1]
        self.theta = self.directions(3 * d)
        p = self._project(x, y)  # (Ns, K)
        self.center = p.mean(0)  # shift both sides by the same constant: less cancellation
        srt = (p - self.center).sort(0).values.T.contiguous()  # (K, Ns)
        ns = srt.shape[1]
        self.ns = ns
        self.s_sq = (srt * srt).mean(1)  # (K,) int F^-1(u)^2 du
        # cumulative integral of the quantile function at i / Ns; padded value so i = Ns works
        self.s_cum = torch.cat([srt.new_zeros(srt.shape[0], 1), srt.cumsum(1) / ns], 1)
        self.s_pad = torch.cat([srt, srt.new_zeros(srt.shape[0], 1)], 1)  # (K, Ns + 1)

    def _source_integral(self, nt: int, device) -> torch.Tensor:
        """(K, nt + 1) G(j / nt) = int_0^{j/nt} F_s^-1(u) du for j = 0..nt (exact integers)."""
        j = torch.arange(nt + 1, device=device, dtype=torch.long)
        i = (j * self.ns) // nt  # floor(j ns / nt)
        frac = (j * self.ns - i * nt).to(torch.float64) / (nt * self.ns)
        cum, pad = self.s_cum.to(device), self.s_pad.to(device)
        return cum[:, i] + frac * pad[:, i]

    def _distance(self, x, y):
        p = self._project(x, y) - self.center.to(x.device)  # (Nt, K), grad via x
        t = p.sort(0).values.T  # (K, Nt)
        nt = t.shape[1]
        G = self._source_integral(nt, x.device)
        cross = (t * (G[:, 1:] - G[:, :-1])).sum(1)  # int F_s^-1 F_t^-1
        w = (self.s_sq.to(x.device) + (t * t).mean(1) - 2.0 * cross).clamp_min(0.0)  # (K,)
        return (w.mean() * self.theta.shape[0]).to(x.dtype)
