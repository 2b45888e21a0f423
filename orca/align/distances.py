"""Distances ("aligners") minimised by ORCA's align stage.

Every aligner compares a fixed *source* dataset (features of the pretrained body on its own
modality, with labels) with a *target* batch (embedded target samples of one or a few classes).
``prepare(source_x, source_y)`` caches every source-only quantity once per align run;
``aligner(target_x, target_y)`` returns a scalar tensor differentiable w.r.t. ``target_x``.

Units: features live in R^D; every distance below is in squared feature units (|x|^2).

Implemented distances (``ALIGNERS`` keys):

``none``
    0 (a zero connected to ``target_x`` so ``backward()`` works); the embedder is not trained.
``l2``
    ``|mean_i s_i - mean_j t_j|_2^2`` -- squared Euclidean distance between the two feature
    means (summed over the D coordinates, label-blind).
``mmd``
    Biased (V-statistic) squared MMD with a multi-bandwidth Gaussian kernel
    ``k(x, x') = (1/K) sum_k exp(-|x - x'|^2 / h_k)``, ``h_k = m * 2**(k - K//2)``, K = 5,
    where m is the median off-diagonal squared distance of the (subsampled) source cloud
    (or ``bandwidths`` given explicitly):
    ``MMD^2 = mean k(s, s') + mean k(t, t') - 2 mean k(s, t)`` (>= 0, = 0 for equal clouds).
``otdd-exact`` / ``otdd-gaussian``
    Debiased optimal transport dataset distance (Alvarez-Melis & Fusi 2020), p = 2, on
    (feature, label) pairs with ground cost::

        c((x, y), (x', y')) = |x - x'|^2 / 2 + W2(y, y') / 2

    where W2(y, y') is a squared 2-Wasserstein-type distance between the class-conditional
    feature clouds of labels y and y' (ground cost |x - x'|^2, i.e. *not* halved):

    * exact: the debiased Sinkhorn divergence between the two class clouds, reg ``inner_reg``
      (default = ``reg``); computed on detached features, i.e. a constant for autograd;
    * gaussian: the squared Bures-Wasserstein distance between Gaussian fits (mean,
      1/n covariance) ``|m - m'|^2 + tr S + tr S' - 2 tr (S^1/2 S' S^1/2)^1/2``, with gradient.

    The outer problem is entropic OT with uniform weights, reg ``eps = reg`` (absolute, in cost
    units), entropy relative to a (x) b: ``OT_eps(a, b) = min_P <P, C> + eps KL(P | a (x) b)``,
    and the returned value is the Sinkhorn divergence
    ``S(a, b) = OT_eps(a, b) - (OT_eps(a, a) + OT_eps(b, b)) / 2`` (so S(D, D) = 0).
``otdd-sliced``
    Sliced OTDD (in the spirit of s-OTDD, Nguyen et al. 2025; our own simplified variant). Each
    labelled sample (x, y) is mapped to an augmented point in R^{3D}::

        z(x, y) = [x, m_y, s_y] / sqrt(2),   m_y = class mean,  s_y = sqrt(diag S_y)

    (S_y = 1/n class covariance, of the dataset the sample belongs to), so that
    ``|z - z'|^2 = |x - x'|^2 / 2 + W_diag(y, y') / 2`` with
    ``W_diag = |m - m'|^2 + |s - s'|^2`` the squared 2-Wasserstein (Bures) distance between
    *diagonal*-covariance Gaussian fits of the two classes -- the OTDD ground cost with the
    label distance replaced by its diagonal-Gaussian version. The value is the scaled sliced
    squared 2-Wasserstein distance between the two uniform augmented clouds::

        SW(alpha, beta) = (3D / K) sum_k W2^2(theta_k # alpha, theta_k # beta)

    with K = ``n_projections`` (256) unit directions theta_k in R^{3D}, fixed by
    ``projection_seed`` (0) and drawn in orthonormal blocks (QR of a Gaussian matrix; each
    theta_k is uniform on the sphere). The factor 3D (= E[(theta . w)^2] = |w|^2 / 3D) makes a
    translation by v of every feature cost |v|^2, as it does for the other OTDDs. Each 1-D W2^2
    between n and m uniform atoms is exact (quantile functions, no interpolation error):
    ``int_0^1 (F_a^-1 - F_b^-1)^2 du = mean a^2 + mean b^2 - 2 sum_j b_(j) int_{(j-1)/m}^{j/m} F_a^-1``,
    the last integrals read off a cached cumulative sum of the sorted source projections, so
    a call costs O(Nt D K + Nt log Nt K) (source size only enters prepare(), O(Ns D K +
    Ns log Ns K), memory O(Ns K)), independent of the number of classes. No entropic
    regularisation and no debiasing are needed: SW(D, D) = 0 exactly (up to rounding),
    SW is symmetric and >= 0. Differentiable w.r.t. target_x through the sort, the target
    class means and s_y (sqrt with a floor: zero-variance coordinates get zero gradient, no NaN).
    Computed in float64, returned in the input dtype.

Solver (``sinkhorn_cost``): epsilon-scaling in the log domain (one log-sum-exp update per eps
on a geometric ladder from the cost spread down to eps), then stabilised, over-relaxed Sinkhorn
at eps (the kernel is re-absorbed into the potentials periodically, so costs in the hundreds
with eps = 0.1 never under/overflow), stopping at an L1 marginal error ``tol`` (1e-3 outer,
``inner_tol`` 1e-2 for the exact label distances, which only need values). Batched over
problems, no Python loop over samples. Gradients use the envelope theorem (the converged plan P
is dOT_eps/dC), so autograd sees only the cost matrix, never the iterations. POT's own
solvers were too slow for this regime (on one 128 x 5000 problem at eps = 0.1, D = 768:
``ot.solve(reg=0.1)`` ~10 s, ``ot.sinkhorn2(method="sinkhorn_log")`` ~40 s with backward, still
unconverged after 1000 iterations); POT serves as the reference in the tests (plans, values,
closed-form Bures-Wasserstein).

Bures-Wasserstein without sqrtm of the target covariance: with centred samples scaled by
1/sqrt(n), A (n, D) and B (m, D), S_A = A^T A, S_B = B^T B, and
``tr (S_A^1/2 S_B S_A^1/2)^1/2 = ||A B^T||_* = sum_i sqrt(eig_i((A B^T)(A B^T)^T))``,
an eigvalsh of a min(n, m)-sized Gram matrix; eigvalsh's backward has no 1/(l_i - l_j) terms
and eigenvalues below a relative floor count as 0 with zero gradient, so rank-deficient classes
(n < D, duplicated points) give finite gradients. Source classes larger than D use a cached
S^1/2 (eigh with clamped eigenvalues) and D x D matrices instead.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "ALIGNERS",
    "Aligner",
    "L2Aligner",
    "MMDAligner",
    "NoneAligner",
    "OTDDExactAligner",
    "OTDDGaussianAligner",
    "OTDDSlicedAligner",
    "SOLVERS",
    "make_aligner",
    "sinkhorn_cost",
]


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _sqdist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances. x (..., n, D), y (..., m, D) -> (..., n, m) >= 0."""
    xx = (x * x).sum(-1)
    yy = (y * y).sum(-1)
    d = xx.unsqueeze(-1) + yy.unsqueeze(-2) - 2.0 * (x @ y.transpose(-1, -2))
    return d.clamp_min(0.0)


def _relabel(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """y (N,) int labels -> (classes (K,) sorted unique labels, idx (N,) in 0..K-1)."""
    classes, idx = torch.unique(y, sorted=True, return_inverse=True)
    return classes, idx


def _padded_classes(x: torch.Tensor, idx: torch.Tensor, k: int):
    """Group rows of x (N, D) by class index idx (N,) into a padded batch.

    Returns xs (K, nmax, D) (padding rows = 0), logw (K, nmax) log uniform weights per class
    (-inf on padding), counts (K,).
    """
    counts = torch.bincount(idx, minlength=k)
    nmax = int(counts.max())
    order = torch.argsort(idx, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(x.shape[0], device=x.device) - starts[idx[order]]
    xs = x.new_zeros(k, nmax, x.shape[1])
    xs[idx[order], pos] = x[order]
    logw = torch.full((k, nmax), -math.inf, dtype=x.dtype, device=x.device)
    logw[idx[order], pos] = -torch.log(counts[idx[order]].to(x.dtype))
    return xs, logw, counts


def _subsample(x: torch.Tensor, y: torch.Tensor, max_rows: int | None, seed: int):
    """Keep at most max_rows rows of (x (N, D), y (N,)), chosen with a fixed-seed generator."""
    if max_rows is None or x.shape[0] <= max_rows:
        return x, y
    g = torch.Generator().manual_seed(seed)
    keep = torch.randperm(x.shape[0], generator=g)[:max_rows].sort().values.to(x.device)
    return x[keep], y[keep]


# --------------------------------------------------------------------------------------------
# Log-domain Sinkhorn with epsilon scaling (batched), envelope-theorem gradients
# --------------------------------------------------------------------------------------------


def _eps_schedule(cmax: float, eps: float, scaling: float) -> list[float]:
    """Geometric schedule cmax -> eps (ratio ``scaling`` per step), ending exactly at eps."""
    out = []
    e = max(cmax, eps)
    while e > eps:
        out.append(e)
        e *= scaling
    out.append(eps)
    return out


#: running counters of the stabilised Sinkhorn phase (diagnostics for benchmarks; reset freely)
SOLVER_STATS = {"calls": 0, "iters": 0, "max_iter_hit": 0}


def _bmv(K: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Batched matrix-vector product K (B, n, m) @ v (B, m) -> (B, n) (mv per batch: on CPU
    this is several times faster than bmm with a trailing unit dimension)."""
    return torch.stack([torch.mv(K[i], v[i]) for i in range(K.shape[0])])


@torch.no_grad()
def _sinkhorn_potentials(C, loga, logb, eps, *, scaling=0.25, tol=1e-3, max_iter=2000,
                         omega=1.8, block=200):
    """Dual potentials of entropic OT, batched.

    C (B, n, m) cost, loga (B, n) / logb (B, m) log weights (-inf marks padding), eps > 0 (cost
    units). Returns f (B, n), g (B, m) such that P = exp(loga + logb + (f + g - C) / eps) is the
    optimal plan: column marginals exact, L1 row-marginal error <= ``tol`` (or ``max_iter``
    scaling iterations done).

    Scheme: (1) epsilon-scaling in the log domain, one f/g log-sum-exp update per eps on the
    geometric ladder (max C - min C) -> eps with ratio ``scaling``; (2) stabilised Sinkhorn at
    eps: the current plan K = exp(loga + logb + (f + g - C) / eps) is formed once and
    iterated by matrix-vector products u <- u^(1-w) (a / K v)^w, v <- v^(1-w) (b / K^T u)^w
    (over-relaxation w = ``omega``; falls back to w = 1 if the error jumps 10x above its best
    or stalls for 100 iterations), re-absorbing
    u, v into f, g every ``block`` iterations or when they leave [e^-30, e^30].
    """
    C = torch.where(torch.isfinite(C), C, 0.0)
    spread = float(C.amax() - C.amin()) if C.numel() else 1.0
    f = C.new_zeros(C.shape[:2])
    g = C.new_zeros(C.shape[0], C.shape[2])
    for e in _eps_schedule(spread, eps, scaling):
        f = -e * torch.logsumexp((logb + g / e).unsqueeze(1) - C / e, dim=2)
        g = -e * torch.logsumexp((loga + f / e).unsqueeze(2) - C / e, dim=1)
    # stabilised phase: kernel in the working dtype, potentials accumulated in float64
    tiny = torch.finfo(C.dtype).tiny
    a, b = loga.exp(), logb.exp()  # 0 on padding
    f64, g64 = f.to(torch.float64), g.to(torch.float64)
    it, w, best, stall = 0, float(omega), math.inf, 0
    while it < max_iter:
        f, g = f64.to(C.dtype), g64.to(C.dtype)
        K = (loga.unsqueeze(2) + logb.unsqueeze(1) + (f.unsqueeze(2) + g.unsqueeze(1) - C) / eps).exp()
        Kt = K.transpose(1, 2).contiguous()
        u, v = torch.ones_like(a), torch.ones_like(b)
        done = False
        for _ in range(min(block, max_iter - it)):
            Kv = _bmv(K, v)
            err = float((u * Kv - a).abs().sum(1).amax())
            if err < tol:
                done = True
                break
            stall = 0 if err < best else stall + 1
            if err > 10.0 * best or stall > 100:  # over-relaxation misbehaving: plain Sinkhorn
                w = 1.0
            best = min(best, err)
            un = torch.where(a > 0, a / Kv.clamp_min(tiny), 1.0)
            u = un if w == 1.0 else u ** (1.0 - w) * un ** w
            vn = torch.where(b > 0, b / _bmv(Kt, u).clamp_min(tiny), 1.0)
            v = vn if w == 1.0 else v ** (1.0 - w) * vn ** w
            it += 1
            if float(torch.maximum(u.log().abs().amax(), v.log().abs().amax())) > 30.0:
                break
        # exact column marginals for the returned pair
        v = torch.where(b > 0, b / _bmv(Kt, u).clamp_min(tiny), 1.0)
        # absorb (clamped: a scaling can only overshoot if a kernel row/column underflowed)
        f64 = f64 + eps * u.clamp(1e-30, 1e30).log().to(torch.float64)
        g64 = g64 + eps * v.clamp(1e-30, 1e30).log().to(torch.float64)
        if done:
            break
    SOLVER_STATS["calls"] += 1
    SOLVER_STATS["iters"] += it
    SOLVER_STATS["max_iter_hit"] += int(not done)
    return f64.to(C.dtype), g64.to(C.dtype)


def _wsum(logw: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """sum_i w_i v_i over the last dim with w = exp(logw) (padding contributes 0). -> (B,)"""
    return torch.where(torch.isfinite(logw), logw.exp() * v, 0.0).sum(-1)


def sinkhorn_cost(C, loga, logb, eps, **kw) -> torch.Tensor:
    """Entropic OT value OT_eps(a, b) = <P, C> + eps KL(P | a (x) b), batched.

    C (B, n, m) cost (may require grad), loga (B, n), logb (B, m) log weights (-inf = padding),
    eps in cost units; solver options as in ``_sinkhorn_potentials``. Returns (B,) values
    (the dual objective <a, f> + <b, g>); the gradient w.r.t. C is the optimal plan P
    (envelope theorem), so autograd never sees the iterations.
    """
    Cd = C.detach()
    f, g = _sinkhorn_potentials(Cd, loga, logb, eps, **kw)
    value = _wsum(loga, f) + _wsum(logb, g)
    if not C.requires_grad:
        return value
    logP = loga.unsqueeze(2) + logb.unsqueeze(1) + (f.unsqueeze(2) + g.unsqueeze(1) - Cd) / eps
    P = torch.where(torch.isfinite(logP), logP.exp(), 0.0)
    lin = (P * C).sum((1, 2))
    return value + lin - lin.detach()


def sinkhorn_cost_sym(C, loga, eps, **kw) -> torch.Tensor:
    """OT_eps(a, a) for a symmetric cost C (B, n, n), loga (B, n); (B,) values."""
    return sinkhorn_cost(C, loga, loga, eps, **kw)


# --------------------------------------------------------------------------------------------
# Bures-Wasserstein pieces (sample-based, gradient safe)
# --------------------------------------------------------------------------------------------


def _sqrt_eig_sum(K: torch.Tensor) -> torch.Tensor:
    """sum_i sqrt(lambda_i(K)) for symmetric PSD K (..., r, r) -> (...).

    Eigenvalues only (eigvalsh: its backward has no 1/(l_i - l_j) terms); eigenvalues below a
    tiny relative floor count as 0 with zero gradient, so rank deficiency never yields NaN.
    """
    K = 0.5 * (K + K.transpose(-1, -2))
    lam = torch.linalg.eigvalsh(K)
    floor = 1e-12 * lam.detach().abs().amax(-1, keepdim=True).clamp_min(1e-30)
    ok = lam > floor
    return torch.where(ok, lam.clamp_min(floor).sqrt(), 0.0).sum(-1)


def _bw_cross_trace(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """tr (S_A^1/2 S_B S_A^1/2)^1/2 from scaled centred samples, batched.

    A (..., n, D), B (..., m, D) with S_A = A^T A, S_B = B^T B (rows already divided by
    sqrt(count); padding rows = 0). Equals the nuclear norm of A B^T (n, m), computed as
    sum sqrt(eig) of the smaller Gram matrix (r = min(n, m)). -> (...)
    """
    M = A @ B.transpose(-1, -2)
    K = M @ M.transpose(-1, -2) if M.shape[-2] <= M.shape[-1] else M.transpose(-1, -2) @ M
    return _sqrt_eig_sum(K)


def _psd_sqrt(S: torch.Tensor) -> torch.Tensor:
    """Symmetric PSD square root via eigh with clamped eigenvalues. S (..., D, D), no grad use."""
    lam, V = torch.linalg.eigh(0.5 * (S + S.transpose(-1, -2)))
    return (V * lam.clamp_min(0).sqrt().unsqueeze(-2)) @ V.transpose(-1, -2)


# --------------------------------------------------------------------------------------------
# Aligners
# --------------------------------------------------------------------------------------------


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


class _OTDDBase(Aligner):
    """Debiased OTDD (see module docstring). Options: reg (outer eps, cost units, 0.1),
    inner_reg (exact-mode eps for the label distances, default reg), max_source, seed,
    tol / max_iter / scaling of the Sinkhorn solver."""

    def __init__(self, max_source=None, seed=0, reg=0.1, inner_reg=None, tol=1e-3,
                 inner_tol=1e-2, max_iter=2000, scaling=0.25, **other):
        super().__init__(max_source, seed, **other)
        self.reg = float(reg)
        self.inner_reg = float(reg if inner_reg is None else inner_reg)
        self.sk = dict(tol=tol, max_iter=max_iter, scaling=scaling)
        self.sk_inner = dict(tol=inner_tol, max_iter=max_iter, scaling=scaling)

    # label distances: implemented by subclasses --------------------------------------------
    def _source_class_stats(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def _label_dist_ts(self, tx, tlogw, tcounts):  # (Kt, Ks)
        raise NotImplementedError

    def _label_dist_tt(self, tx, tlogw, tcounts):  # (Kt, Kt)
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------
    def _prepare(self, x, y):
        self.classes, idx = _relabel(y)
        self.sx, self.sidx = x, idx
        self.k = len(self.classes)
        self.cx, self.clogw, self.ccounts = _padded_classes(x, idx, self.k)
        self._source_class_stats()
        self.W_ss = self._label_dist_ss()  # (Ks, Ks), constant
        C = 0.5 * _sqdist(x, x) + 0.5 * self.W_ss[idx][:, idx]
        logw = torch.full((1, x.shape[0]), -math.log(x.shape[0]), dtype=x.dtype, device=x.device)
        self.ot_ss = float(sinkhorn_cost_sym(C.unsqueeze(0), logw, self.reg, **self.sk)[0])
        del C

    def _distance(self, x, y):
        dt = x.dtype
        sx = self.sx.to(device=x.device, dtype=dt)
        sidx = self.sidx.to(x.device)
        _, tidx = _relabel(y.to(x.device))
        kt = int(tidx.max()) + 1
        tx, tlogw, tcounts = _padded_classes(x, tidx, kt)
        W_ts = self._label_dist_ts(tx, tlogw, tcounts).to(dt)  # (Kt, Ks)
        W_tt = self._label_dist_tt(tx, tlogw, tcounts).to(dt)  # (Kt, Kt)
        n, m = x.shape[0], sx.shape[0]
        la = torch.full((1, n), -math.log(n), dtype=dt, device=x.device)
        lb = torch.full((1, m), -math.log(m), dtype=dt, device=x.device)
        C_ts = 0.5 * _sqdist(x, sx) + 0.5 * W_ts[tidx][:, sidx]
        C_tt = 0.5 * _sqdist(x, x) + 0.5 * W_tt[tidx][:, tidx]
        ot_ts = sinkhorn_cost(C_ts.unsqueeze(0), la, lb, self.reg, **self.sk)[0]
        ot_tt = sinkhorn_cost_sym(C_tt.unsqueeze(0), la, self.reg, **self.sk)[0]
        return ot_ts - 0.5 * ot_tt - 0.5 * self.ot_ss


class OTDDExactAligner(_OTDDBase):
    """OTDD whose label distance is the debiased Sinkhorn divergence between class clouds
    (cost |x - x'|^2, eps = inner_reg), treated as a constant (no gradient)."""

    name = "otdd-exact"

    def _self_ot(self, cx, clogw):
        """(K,) OT_eps(alpha_k, alpha_k) of each padded class cloud cx (K, n, D)."""
        return sinkhorn_cost_sym(_sqdist(cx, cx), clogw, self.inner_reg, **self.sk_inner)

    def _source_class_stats(self):
        self.s_self = self._self_ot(self.cx, self.clogw)  # (Ks,)

    def _pairwise(self, ax, alogw, aself, bx, blogw, bself):
        """(Ka, Kb) debiased Sinkhorn divergences, all class pairs in one batch."""
        ka, kb = ax.shape[0], bx.shape[0]
        A = ax.unsqueeze(1).expand(ka, kb, *ax.shape[1:]).reshape(ka * kb, *ax.shape[1:])
        B = bx.unsqueeze(0).expand(ka, kb, *bx.shape[1:]).reshape(ka * kb, *bx.shape[1:])
        la = alogw.unsqueeze(1).expand(ka, kb, -1).reshape(ka * kb, -1)
        lb = blogw.unsqueeze(0).expand(ka, kb, -1).reshape(ka * kb, -1)
        cross = sinkhorn_cost(_sqdist(A, B), la, lb, self.inner_reg, **self.sk_inner).reshape(ka, kb)
        return (cross - 0.5 * aself[:, None] - 0.5 * bself[None, :]).clamp_min(0.0)

    def _label_dist_ss(self):
        k = self.k
        W = torch.zeros(k, k, dtype=self.sx.dtype, device=self.sx.device)
        for i in range(k - 1):  # upper triangle, one batch per row
            W[i, i + 1 :] = self._pairwise(self.cx[i : i + 1], self.clogw[i : i + 1],
                                           self.s_self[i : i + 1], self.cx[i + 1 :],
                                           self.clogw[i + 1 :], self.s_self[i + 1 :])[0]
        return W + W.T

    def _label_dist_ts(self, tx, tlogw, tcounts):
        tx = tx.detach()
        self._t_self = self._self_ot(tx, tlogw)
        return self._pairwise(tx, tlogw, self._t_self, self.cx.to(tx), self.clogw.to(tx),
                              self.s_self.to(tx))

    def _label_dist_tt(self, tx, tlogw, tcounts):
        kt = tx.shape[0]
        if kt == 1:
            return tx.new_zeros(1, 1)
        tx = tx.detach()
        W = self._pairwise(tx, tlogw, self._t_self, tx, tlogw, self._t_self)
        W = 0.5 * (W + W.T)
        return W * (1 - torch.eye(kt, dtype=W.dtype, device=W.device))


class OTDDGaussianAligner(_OTDDBase):
    """OTDD whose label distance is the squared Bures-Wasserstein distance between Gaussian
    fits (mean, 1/n covariance) of the class clouds; differentiable through target stats."""

    name = "otdd-gaussian"

    @staticmethod
    def _stats(cx, clogw, counts):
        """Padded classes -> means (K, D), scaled centred samples (K, n, D) (rows / sqrt(n),
        padding 0, computed in float64), traces of covariances (K,)."""
        w = torch.where(torch.isfinite(clogw), clogw.exp(), 0.0).to(torch.float64)
        cx64 = cx.to(torch.float64)
        mean = (w.unsqueeze(-1) * cx64).sum(1)
        A = (cx64 - mean.unsqueeze(1)) * w.sqrt().unsqueeze(-1)
        return mean, A, (A * A).sum((1, 2))

    def _source_class_stats(self):
        self.s_mean, self.s_A, self.s_tr = self._stats(self.cx, self.clogw, self.ccounts)
        d = self.sx.shape[1]
        # big classes (n > D): work with D x D matrices and a cached S^1/2 instead of n x n Grams
        if int(self.ccounts.min()) > d:
            S = self.s_A.transpose(1, 2) @ self.s_A
            self.s_cov, self.s_sqrt = S, _psd_sqrt(S)
        else:
            self.s_cov, self.s_sqrt = None, None

    def _bw(self, ma, Aa, tra, mb, Ab, trb, cross):
        """(Ka, Kb) squared BW distances given means, traces and the cross-trace matrix."""
        d2 = ((ma[:, None, :] - mb[None, :, :]) ** 2).sum(-1)
        return (d2 + tra[:, None] + trb[None, :] - 2.0 * cross).clamp_min(0.0)

    def _label_dist_ss(self):
        k = self.k
        if self.s_sqrt is not None:
            M = self.s_sqrt.unsqueeze(1) @ self.s_cov.unsqueeze(0) @ self.s_sqrt.unsqueeze(1)
            cross = _sqrt_eig_sum(M)
        else:
            cross = torch.stack([_bw_cross_trace(self.s_A[i : i + 1], self.s_A) for i in range(k)])
            cross = cross.reshape(k, k)
        W = self._bw(self.s_mean, self.s_A, self.s_tr, self.s_mean, self.s_A, self.s_tr, cross)
        W = 0.5 * (W + W.T) * (1 - torch.eye(k, dtype=W.dtype, device=W.device))
        return W.to(self.sx.dtype)

    def _label_dist_ts(self, tx, tlogw, tcounts):
        mean, A, tr = self._stats(tx, tlogw, tcounts)
        self._t = (mean, A, tr)
        if self.s_mean.device != A.device:
            for k in ("s_mean", "s_A", "s_tr", "s_cov", "s_sqrt"):
                if getattr(self, k) is not None:
                    setattr(self, k, getattr(self, k).to(A.device))
        kt, ks = A.shape[0], self.k
        d = A.shape[-1]
        if self.s_sqrt is not None and int(tcounts.min()) > d:
            St = A.transpose(1, 2) @ A  # (Kt, D, D)
            cross = _sqrt_eig_sum(self.s_sqrt.unsqueeze(0) @ St.unsqueeze(1) @ self.s_sqrt.unsqueeze(0))
        else:
            cross = _bw_cross_trace(A.unsqueeze(1), self.s_A.unsqueeze(0))  # (Kt, Ks)
        return self._bw(mean, A, tr, self.s_mean, self.s_A, self.s_tr, cross.reshape(kt, ks))

    def _label_dist_tt(self, tx, tlogw, tcounts):
        mean, A, tr = self._t
        kt = A.shape[0]
        if kt == 1:
            return A.new_zeros(1, 1)
        iu = torch.triu_indices(kt, kt, 1)
        cross_u = _bw_cross_trace(A[iu[0]], A[iu[1]])
        cross = A.new_zeros(kt, kt).index_put((iu[0], iu[1]), cross_u)
        cross = cross + cross.T + torch.diag(tr)  # diagonal: tr S, so W(t, t) = 0
        W = self._bw(mean, A, tr, mean, A, tr, cross)
        return W * (1 - torch.eye(kt, dtype=W.dtype, device=W.device))


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


ALIGNERS: dict[str, type] = {
    "none": NoneAligner,
    "l2": L2Aligner,
    "mmd": MMDAligner,
    "otdd-exact": OTDDExactAligner,
    "otdd-gaussian": OTDDGaussianAligner,
    "otdd-sliced": OTDDSlicedAligner,
}


#: OT solvers of the OTDD aligners: ``converged`` (this module's, the ``clean`` protocol) or
#: ``original`` (geomloss 0.2.x's annealed loop as the released ORCA code runs it, annealed_sinkhorn.py)
SOLVERS = ("converged", "original")


def make_aligner(name: str, solver: str = "converged", **options) -> Aligner:
    """Build the aligner called ``name`` (a key of ALIGNERS) with its options. ``solver`` (one of
    SOLVERS) picks the OTDD aligners' OT solver; aligners without Sinkhorn ignore it."""
    try:
        cls = ALIGNERS[name]
    except KeyError:
        raise ValueError(f"unknown aligner {name!r}; allowed: {', '.join(sorted(ALIGNERS))}") from None
    if solver not in SOLVERS:
        raise ValueError(f"unknown align solver {solver!r}; allowed: {', '.join(SOLVERS)}")
    if solver == "original":
        from .annealed_sinkhorn import ORIGINAL_SOLVER_ALIGNERS

        cls = ORIGINAL_SOLVER_ALIGNERS.get(name, cls)
    return cls(**options)
