"""Optimal transport dataset distances: otdd-exact (Sinkhorn label distance) and otdd-gaussian (Bures)."""
from __future__ import annotations

import math

import torch

from ._bures import _bw_cross_trace, _psd_sqrt, _sqrt_eig_sum
from ._helpers import _padded_classes, _relabel, _sqdist
from ._moments import Aligner
from ._sinkhorn import sinkhorn_cost, sinkhorn_cost_sym

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
    def _prepare_source(self, x, y) -> torch.Tensor:
        """Source classes, their statistics and label distances W_ss (Ks, Ks); returns the source's own
        cost matrix (Ns, Ns): 0.5 |x - x'|^2 + 0.5 W(y, y'), the cost both solvers' self-term uses."""
        self.classes, idx = _relabel(y)
        self.sx, self.sidx = x, idx
        self.k = len(self.classes)
        self.cx, self.clogw, self.ccounts = _padded_classes(x, idx, self.k)
        self._source_class_stats()
        self.W_ss = self._label_dist_ss()  # (Ks, Ks), constant
        return 0.5 * _sqdist(x, x) + 0.5 * self.W_ss[idx][:, idx]

    def _prepare(self, x, y):
        C = self._prepare_source(x, y)
        logw = torch.full((1, x.shape[0]), -math.log(x.shape[0]), dtype=x.dtype, device=x.device)
        self.ot_ss = float(sinkhorn_cost_sym(C.unsqueeze(0), logw, self.reg, **self.sk)[0])

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
