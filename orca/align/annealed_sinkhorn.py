"""The align solver of the released ORCA code: geomloss 0.2.x's annealed, symmetric Sinkhorn.

The released code (sjunhongshen/ORCA @ 19b8c1c, ``src/otdd/otdd/pytorch/distance.py``,
``DatasetDistance.distance``) evaluates its OTDD with ``geomloss.SamplesLoss("sinkhorn", p=2,
blur=entreg ** (1/2), debias=True, backend="tensorized")`` (default ``scaling=0.5``) on
(feature, label) points, with the label distances from ``wasserstein.pwdist_exact`` (the same
loss, cost |x - x'|^2, per class pair, values only). geomloss 0.2.x (``sinkhorn_divergence.py``:
``epsilon_schedule``, ``max_diameter``, ``sinkhorn_loop``; ``sinkhorn_samples.py``:
``sinkhorn_tensorized``) does **not** iterate to convergence. This module is our own
implementation of that documented algorithm (``solver: original``); ``distances.py`` keeps the
converged solver (``solver: converged``, the ``clean`` protocol).

Algorithm (source measure a on x (Ns points), target b on y (Nt points), all in cost units):

* diameter = norm of the bounding-box diagonal of x and y together (for the outer OTDD the points
  carry their relabelled class id as one more coordinate: source classes 0..Ks-1, target classes
  Ks..Ks+Kt-1, as otdd's ``load_full_dataset(reindex=True)`` numbers them);
* eps schedule (``eps_schedule``): diameter^p, then diameter^p * scaling^(p k) for k = 0, 1, ...
  while > blur^p, then eps = blur^p (p = 2, scaling = 0.5: a factor 1/4 per step);
* softmin(eps, C, h)_i = -eps log sum_j exp(h_j - C_ij / eps);
  start: f_ab = softmin(eps_0, C_xy, log b), g_ab = softmin(eps_0, C_yx, log a),
  f_aa = softmin(eps_0, C_xx, log a), g_bb = softmin(eps_0, C_yy, log b);
* one **symmetric** step per eps of the schedule (the first value twice): all four potentials are
  updated from the previous ones and averaged, f <- (f + softmin(eps, C, log w + g / eps)) / 2;
  no further iterations at the final eps; no gradient through any of this;
* a last "extrapolation" step at the final eps, the only one autograd sees, with the previous
  potentials detached and each cost matrix differentiable through its *first* point only
  (geomloss builds C_yx = cost(y, x.detach()), C_yy = cost(y, y.detach()));
* value S = <a, f_ab - f_aa> + <b, g_ab - g_bb>.

The resulting gradient is not the converged one (cosine about 0.9 on ORCA-sized problems).
Deliberate difference, value only: the outer source self-term f_aa (an Ns x Ns problem) is solved
once in ``prepare`` with the schedule of the source alone (labels 0..Ks); the released code re-solves
it every call with the schedule of source and target together. It carries no gradient.
"""
from __future__ import annotations

import math

import torch

from .distances import OTDDExactAligner, OTDDGaussianAligner, _padded_classes, _relabel, _sqdist

__all__ = ["ORIGINAL_SOLVER_ALIGNERS", "annealed_potentials", "bbox_diameter", "eps_schedule",
           "sinkhorn_divergence_value"]


def eps_schedule(diameter: float, blur: float, scaling: float = 0.5, p: int = 2) -> list[float]:
    """geomloss 0.2.x temperatures: [diameter^p] + [diameter^p scaling^(p k) > blur^p, k >= 0]
    + [blur^p] (cost units). With diameter <= blur only [diameter^p, blur^p]."""
    if not (diameter > 0 and blur > 0 and 0 < scaling < 1):
        raise ValueError(f"eps_schedule needs diameter > 0, blur > 0, 0 < scaling < 1; got "
                         f"{diameter}, {blur}, {scaling}")
    top, eps, ratio = diameter ** p, blur ** p, scaling ** p
    steps = max(0, math.ceil(math.log(eps / top) / math.log(ratio)))
    return [top] + [top * ratio ** k for k in range(steps)] + [eps]


def bbox_diameter(*clouds: torch.Tensor, extra_range: float = 0.0) -> float:
    """|max - min| of the union of point clouds (N_i, D), coordinate-wise, as a Euclidean norm;
    ``extra_range``: the span of one more coordinate (the relabelled class ids)."""
    lo = torch.stack([c.detach().amin(0) for c in clouds]).amin(0)
    hi = torch.stack([c.detach().amax(0) for c in clouds]).amax(0)
    return math.sqrt(float(((hi - lo).double() ** 2).sum()) + extra_range ** 2)


def _softmin(eps: float, C: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """-eps log sum_j exp(h_j - C_ij / eps): C (n, m), h (m,) -> (n,)."""
    return -eps * torch.logsumexp(h.unsqueeze(0) - C / eps, dim=1)


@torch.no_grad()
def annealed_potentials(C_xy, C_xx, C_yy, loga, logb, eps_list):
    """The potentials geomloss's loop ends with, before its last step (no gradient).

    C_xy (n, m), C_xx (n, n) or None (skip the a <-> a problem), C_yy (m, m); loga (n,), logb (m,)
    log weights. Returns f_ab (n,), g_ab (m,), f_aa (n,) or None, g_bb (m,).
    """
    C_xy, C_yx = C_xy.detach(), C_xy.detach().T
    e = eps_list[0]
    f_ab, g_ab = _softmin(e, C_xy, logb), _softmin(e, C_yx, loga)
    f_aa = None if C_xx is None else _softmin(e, C_xx, loga)
    g_bb = _softmin(e, C_yy, logb)
    for e in eps_list:
        f_new = _softmin(e, C_xy, logb + g_ab / e)
        g_new = _softmin(e, C_yx, loga + f_ab / e)
        if f_aa is not None:
            f_aa = 0.5 * (f_aa + _softmin(e, C_xx, loga + f_aa / e))
        g_bb = 0.5 * (g_bb + _softmin(e, C_yy, logb + g_bb / e))
        f_ab, g_ab = 0.5 * (f_ab + f_new), 0.5 * (g_ab + g_new)
    return f_ab, g_ab, f_aa, g_bb


def self_potential(C_xx: torch.Tensor, loga: torch.Tensor, eps_list) -> torch.Tensor:
    """f_aa of the a <-> a problem after geomloss's loop and its last step (n,), no gradient."""
    with torch.no_grad():
        C_xx = C_xx.detach()
        f = _softmin(eps_list[0], C_xx, loga)
        for e in eps_list:
            f = 0.5 * (f + _softmin(e, C_xx, loga + f / e))
        return _softmin(eps_list[-1], C_xx, loga + f / eps_list[-1])


def final_step(C_yx, C_yy, loga, logb, pots, eps: float, f_aa_final: torch.Tensor) -> torch.Tensor:
    """S = <a, f_ab - f_aa> + <b, g_ab - g_bb> after the last (differentiable) step.

    C_yx (m, n) target-source cost, differentiable w.r.t. the target; C_yy (m, m) target-target
    cost, differentiable through its row point only; pots from ``annealed_potentials``;
    f_aa_final (n,) the source self-potential after its own last step. Scalar.
    """
    f_ab, g_ab, _, g_bb = pots
    f_fin = _softmin(eps, C_yx.detach().T, logb + g_ab / eps)  # no gradient to the target
    g_fin = _softmin(eps, C_yx, loga + f_ab / eps)
    gbb_fin = _softmin(eps, C_yy, logb + g_bb / eps)
    a, b = loga.exp(), logb.exp()
    return (a * (f_fin - f_aa_final)).sum() + (b * (g_fin - gbb_fin)).sum()


def sinkhorn_divergence_value(x: torch.Tensor, y: torch.Tensor, blur: float, scaling: float = 0.5) -> float:
    """geomloss 0.2.x debiased Sinkhorn divergence between uniform clouds x (n, D), y (m, D),
    cost |x - x'|^2 (not halved, p = 2), eps = blur^2; as otdd's ``pwdist_exact`` uses it."""
    x, y = x.detach(), y.detach()
    eps_list = eps_schedule(bbox_diameter(x, y), blur, scaling)
    loga = torch.full((x.shape[0],), -math.log(x.shape[0]), dtype=x.dtype, device=x.device)
    logb = torch.full((y.shape[0],), -math.log(y.shape[0]), dtype=y.dtype, device=y.device)
    C_xy, C_xx, C_yy = _sqdist(x, y), _sqdist(x, x), _sqdist(y, y)
    pots = annealed_potentials(C_xy, C_xx, C_yy, loga, logb, eps_list)
    e = eps_list[-1]
    f_aa = _softmin(e, C_xx, loga + pots[2] / e)
    return float(final_step(C_xy.T, C_yy, loga, logb, pots, e, f_aa))


class _OriginalSolverOTDD:
    """Mixin: the outer OTDD problem and exact label distances solved as the released code does.
    ``reg`` is otdd's ``entreg`` (eps = reg, blur = sqrt(reg)); ``scaling`` is geomloss's ratio of
    successive blurs (0.5, i.e. eps / 4 per step; the converged solver's ``scaling`` is an eps ratio)."""

    solver = "original"

    def __init__(self, *args, scaling=0.5, **kw):
        super().__init__(*args, scaling=scaling, **kw)
        self.blur, self.geom_scaling = math.sqrt(self.reg), float(scaling)

    def _outer_schedule(self, *clouds, n_labels: int) -> list[float]:
        return eps_schedule(bbox_diameter(*clouds, extra_range=max(n_labels - 1, 0)), self.blur,
                            self.geom_scaling)

    def _prepare(self, x, y):
        self.classes, idx = _relabel(y)
        self.sx, self.sidx = x, idx
        self.k = len(self.classes)
        self.cx, self.clogw, self.ccounts = _padded_classes(x, idx, self.k)
        self._source_class_stats()
        self.W_ss = self._label_dist_ss()
        C = 0.5 * _sqdist(x, x) + 0.5 * self.W_ss[idx][:, idx]
        self.loga = torch.full((x.shape[0],), -math.log(x.shape[0]), dtype=x.dtype, device=x.device)
        self.f_ss = self_potential(C, self.loga, self._outer_schedule(x, n_labels=self.k + 1))
        del C

    def _distance(self, x, y):
        dt, dev = x.dtype, x.device
        sx, sidx = self.sx.to(device=dev, dtype=dt), self.sidx.to(dev)
        _, tidx = _relabel(y.to(dev))
        kt = int(tidx.max()) + 1
        tx, tlogw, tcounts = _padded_classes(x, tidx, kt)
        W_ts = self._label_dist_ts(tx, tlogw, tcounts).to(dt)  # (Kt, Ks)
        W_tt = self._label_dist_tt(tx, tlogw, tcounts).to(dt)  # (Kt, Kt)
        eps_list = self._outer_schedule(sx, x, n_labels=self.k + kt)
        logb = torch.full((x.shape[0],), -math.log(x.shape[0]), dtype=dt, device=dev)
        loga = self.loga.to(device=dev, dtype=dt)
        C_ts = 0.5 * _sqdist(x, sx) + 0.5 * W_ts[tidx][:, sidx]  # (Nt, Ns), grad via the target
        C_tt = 0.5 * _sqdist(x, x.detach()) + 0.5 * W_tt[tidx][:, tidx]  # grad via the row point
        pots = annealed_potentials(C_ts.detach().T, None, C_tt.detach(), loga, logb, eps_list)
        return final_step(C_ts, C_tt, loga, logb, pots, eps_list[-1], self.f_ss.to(device=dev, dtype=dt))


class OTDDExactOriginalSolver(_OriginalSolverOTDD, OTDDExactAligner):
    """otdd-exact with the released code's solver, inner label distances included (one geomloss-style
    divergence per class pair, source class first, as ``pwdist_exact`` loops; constants)."""

    def _source_class_stats(self):
        self.s_self = None

    def _clouds(self, cx, counts):
        return [cx[i, : int(counts[i])] for i in range(cx.shape[0])]

    def _label_dist_ss(self):
        clouds = self._clouds(self.cx, self.ccounts)
        W = torch.zeros(self.k, self.k, dtype=self.sx.dtype, device=self.sx.device)
        for i in range(self.k):
            for j in range(i + 1, self.k):
                W[i, j] = W[j, i] = sinkhorn_divergence_value(clouds[i], clouds[j], self.blur, self.geom_scaling)
        return W

    def _label_dist_ts(self, tx, tlogw, tcounts):
        src = self._clouds(self.cx.to(tx), self.ccounts)
        tgt = self._clouds(tx.detach(), tcounts)
        self._t_clouds = tgt
        return torch.tensor([[sinkhorn_divergence_value(s, t, self.blur, self.geom_scaling) for s in src]
                             for t in tgt], dtype=tx.dtype, device=tx.device)

    def _label_dist_tt(self, tx, tlogw, tcounts):
        tgt, kt = self._t_clouds, tx.shape[0]
        W = tx.new_zeros(kt, kt)
        for i in range(kt):
            for j in range(i + 1, kt):
                W[i, j] = W[j, i] = sinkhorn_divergence_value(tgt[i], tgt[j], self.blur, self.geom_scaling)
        return W


class OTDDGaussianOriginalSolver(_OriginalSolverOTDD, OTDDGaussianAligner):
    """otdd-gaussian (our Bures label distance) with the released code's outer solver."""


#: aligner name -> class used with ``solver: original`` (aligners without Sinkhorn have no solver)
ORIGINAL_SOLVER_ALIGNERS = {"otdd-exact": OTDDExactOriginalSolver, "otdd-gaussian": OTDDGaussianOriginalSolver}
