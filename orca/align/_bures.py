"""Bures-Wasserstein traces for the Gaussian OTDD (see the orca.align.distances docstring)."""
from __future__ import annotations

import torch

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
