"""The entropic OT solver behind the OTDD aligners: log-domain Sinkhorn with epsilon scaling, batched
(see the orca.align.distances docstring)."""
from __future__ import annotations

import math

import torch

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
def _eps_scaling(C, loga, logb, eps, scaling):
    """Phase (1) of :func:`_sinkhorn_potentials`: one log-domain f/g update per eps on the geometric ladder
    (max C - min C) -> eps with ratio ``scaling``. -> f (B, n), g (B, m)."""
    spread = float(C.amax() - C.amin()) if C.numel() else 1.0
    f = C.new_zeros(C.shape[:2])
    g = C.new_zeros(C.shape[0], C.shape[2])
    for e in _eps_schedule(spread, eps, scaling):
        f = -e * torch.logsumexp((logb + g / e).unsqueeze(1) - C / e, dim=2)
        g = -e * torch.logsumexp((loga + f / e).unsqueeze(2) - C / e, dim=1)
    return f, g


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
    f, g = _eps_scaling(C, loga, logb, eps, scaling)
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
