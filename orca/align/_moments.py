"""The aligner base class and the moment-based aligners: none, l2, mmd."""
from __future__ import annotations


import torch

from ._helpers import _sqdist, _subsample

class Aligner:
    """Base class. Subclasses set ``name`` and implement ``_prepare`` / ``_distance``."""

    name: str = "base"
    trains_embedder: bool = True

    #: options that belong to some other aligner; accepted and ignored so that a caller can
    #: pass one option set to every aligner (anything else raises TypeError)
    _SHARED_OPTIONS = frozenset(
        {"reg", "inner_reg", "tol", "inner_tol", "max_iter", "scaling", "bandwidths", "n_kernels"})

    def __init__(self, max_source: int | None = None, seed: int = 0, **other):
        unknown = set(other) - self._SHARED_OPTIONS
        if unknown:
            raise TypeError(f"{self.name}: unknown option(s) {sorted(unknown)}")
        self.max_source = max_source
        self.seed = seed
        self._prepared = False

    def prepare(self, source_x: torch.Tensor, source_y: torch.Tensor) -> None:
        """source_x (Ns, D) float, source_y (Ns,) int64. Caches source-only quantities."""
        if source_x.ndim != 2 or source_y.ndim != 1 or source_x.shape[0] != source_y.shape[0]:
            raise ValueError("source_x must be (N, D) and source_y (N,)")
        x, y = _subsample(source_x.detach(), source_y.detach(), self.max_source, self.seed)
        self._prepare(x, y.to(torch.long))
        self._prepared = True

    def __call__(self, target_x: torch.Tensor, target_y: torch.Tensor) -> torch.Tensor:
        """target_x (Nt, D) float, target_y (Nt,) int64 -> scalar tensor (grad w.r.t. target_x)."""
        if not self._prepared:
            raise RuntimeError(f"{self.name}: call prepare(source_x, source_y) first")
        if target_x.ndim != 2 or target_y.ndim != 1 or target_x.shape[0] != target_y.shape[0]:
            raise ValueError("target_x must be (N, D) and target_y (N,)")
        return self._distance(target_x, target_y.to(torch.long))

    def _prepare(self, x, y):  # pragma: no cover - overridden
        raise NotImplementedError

    def _distance(self, x, y):  # pragma: no cover - overridden
        raise NotImplementedError


class NoneAligner(Aligner):
    """No alignment: returns 0 (connected to target_x); the embedder is not trained."""

    name = "none"
    trains_embedder = False

    def _prepare(self, x, y):
        pass

    def _distance(self, x, y):
        return (x * 0.0).sum()


class L2Aligner(Aligner):
    """|mean(source_x) - mean(target_x)|_2^2 (summed over D), label-blind."""

    name = "l2"

    def _prepare(self, x, y):
        self.source_mean = x.mean(0)

    def _distance(self, x, y):
        return (x.mean(0) - self.source_mean.to(device=x.device, dtype=x.dtype)).pow(2).sum()


class MMDAligner(Aligner):
    """Biased MMD^2 with a mean of K Gaussian kernels exp(-|x-x'|^2 / h_k).

    Options: ``bandwidths`` (sequence of h_k, squared-distance units) or, by default,
    h_k = m * 2**(k - K//2), k = 0..K-1 (``n_kernels`` = K = 5), m = median off-diagonal
    squared distance of the source cloud. ``max_source`` caps the source size (fixed seed).
    """

    name = "mmd"

    def __init__(self, max_source=None, seed=0, bandwidths=None, n_kernels=5, **other):
        super().__init__(max_source, seed, **other)
        self.bandwidths = None if bandwidths is None else [float(b) for b in bandwidths]
        self.n_kernels = n_kernels

    def _kmean(self, d2: torch.Tensor) -> torch.Tensor:
        """Mean kernel value over all entries of the squared-distance matrix d2."""
        h = torch.as_tensor(self.h, dtype=d2.dtype, device=d2.device)
        return torch.exp(-d2.unsqueeze(-1) / h).mean()

    def _prepare(self, x, y):
        self.source_x = x
        if self.bandwidths is None:
            n = x.shape[0]
            sub = x if n <= 2000 else x[torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))[:2000]]
            d2 = _sqdist(sub, sub)
            iu = torch.triu_indices(sub.shape[0], sub.shape[0], 1)
            med = float(d2[iu[0], iu[1]].median()) if sub.shape[0] > 1 else 1.0
            med = med if med > 0 else 1.0
            k = self.n_kernels
            self.h = [med * 2.0 ** (i - k // 2) for i in range(k)]
        else:
            self.h = list(self.bandwidths)
        # mean k(s, s'), chunked to bound memory
        tot, n = 0.0, x.shape[0]
        for i in range(0, n, 1024):
            tot += float(self._kmean(_sqdist(x[i : i + 1024], x))) * x[i : i + 1024].shape[0] * n
        self.kss = tot / (n * n)

    def _distance(self, x, y):
        s = self.source_x.to(device=x.device, dtype=x.dtype)
        return self.kss + self._kmean(_sqdist(x, x)) - 2.0 * self._kmean(_sqdist(x, s))
