"""RECRAFT's three training losses (github.com/khiembk/RECRAFT at abc2a04, an ORCA fork), as small functions.

The stage that trains with them is ``orca/stages/recraft_align.py``; what the released code computes, with its
file:line references, is in docs/design/recraft.md. Units: features live in R^D and every distance is in squared
feature units (|x|^2), as in ``orca.align.distances``.

* :func:`fa_loss`, the feature alignment ("FA") loss: ``(N_t / n_target_batches) * OTDD(source, target)`` where
  every source feature carries label 0 and every target feature one label, so the OTDD's label distance is a
  constant and the loss is a feature-only Sinkhorn divergence plus a detached offset::

      OTDD = S_eps(X_s, X_t; |x - y|^2 / 2) + 1/2 * stopgrad(S_eps(X_s, X_t; |x - y|^2)),   eps = 0.1

  with S_eps(a, b) = OT_eps(a, b) - OT_eps(a, a) / 2 - OT_eps(b, b) / 2 (uniform weights, entropy relative to
  a (x) b). It is our ``otdd-exact`` aligner on zero labels (:func:`fa_aligner`), so either of its solvers runs:
  ``original`` (geomloss 0.2.x's annealed loop, what the released code's ``otdd()`` runs) or ``converged``.
* :func:`entropy_loss` / :func:`label_matching_loss`, the label matching ("FLD") loss of one chunk of one
  target class: ``w_c * (n / n_batches_c) * H(mean of the source head's softmax over the chunk)``.
* :func:`tau_penalty`, the source head's gradient-norm penalty: ``(rho / B) * sum max(0, |g| - tau)^2`` with the
  norm over axis 1 of the gradient (the token axis of a (B, T, D) gradient), as the released code takes it.
"""
from __future__ import annotations

import torch

from .distances import Aligner, make_aligner

__all__ = ["ENTROPY_EPS", "FA_REG", "entropy_loss", "fa_aligner", "fa_loss", "label_matching_loss", "tau_penalty"]

#: otdd()'s ``entreg``: the entropic regularisation eps of both the outer OT and the label distance (cost units)
FA_REG = 0.1
#: the epsilon inside the log of RECRAFT's ``Entropy_loss``
ENTROPY_EPS = 1e-10


def fa_aligner(source_x: torch.Tensor, solver: str = "original", reg: float = FA_REG, **options) -> Aligner:
    """Our ``otdd-exact`` aligner prepared on ``source_x`` (N_s, D) with every source label 0, as RECRAFT's
    source datasets carry (their labels are replaced by zeros). ``solver``: ``original`` (the released code's
    annealed geomloss loop) or ``converged`` (ours); ``reg``: eps of the outer problem and of the label distance.
    ``options`` go to :func:`orca.align.distances.make_aligner` (e.g. ``max_source``)."""
    aligner = make_aligner("otdd-exact", solver=solver, reg=reg, **options)
    aligner.prepare(source_x, torch.zeros(source_x.shape[0], dtype=torch.long, device=source_x.device))
    return aligner


def fa_loss(target_x: torch.Tensor, aligner: Aligner, n_target_batches: int) -> torch.Tensor:
    """RECRAFT's feature alignment loss on one epoch's target draw.

    target_x: the embedder's output, (N_t, T, D) tokens (mean-pooled over T here) or (N_t, D) already pooled;
    gradients flow back through it. aligner: :func:`fa_aligner`'s. n_target_batches: the number of loader
    batches of the whole target training set (``len(train_loader)``). Returns the scalar
    ``(N_t / n_target_batches) * OTDD`` in squared feature units; every target feature carries the one label 0,
    so only ``S_eps(X_s, X_t; |x - y|^2 / 2)`` carries gradient (the label-distance term is a constant).
    With N_t <= 1 the released code takes no step; this returns a zero connected to ``target_x``.
    """
    if target_x.ndim == 3:
        target_x = target_x.mean(1)
    if target_x.ndim != 2:
        raise ValueError(f"target features must be (N, T, D) or (N, D), got {tuple(target_x.shape)}")
    n = target_x.shape[0]
    if n <= 1:
        return target_x.sum() * 0.0
    labels = torch.zeros(n, dtype=torch.long, device=target_x.device)
    return (n / n_target_batches) * aligner(target_x, labels)


def entropy_loss(probs: torch.Tensor, eps: float = ENTROPY_EPS) -> torch.Tensor:
    """H(P) = -sum P log(P + eps) of P = the mean of ``probs`` over its first (sample) axis, in nats.

    probs: (n, C) softmax outputs of the source head, or (n, T, C) per-token outputs (a dense 1D task on a text
    body, where the released head runs on every token): then P is (T, C) and the sum runs over T too, as the
    released ``Entropy_loss`` sums every entry. Computed in float32."""
    p = probs.to(torch.float32).mean(0)
    return -(p * torch.log(p + eps)).sum()


def label_matching_loss(probs: torch.Tensor, class_weight: float, n_batches_in_class: int,
                        eps: float = ENTROPY_EPS) -> torch.Tensor:
    """RECRAFT's label matching loss of one chunk of target class c:
    ``w_c * (n / n_batches_in_class) * H(mean(probs))``, n = probs.shape[0] (the chunk's samples),
    ``class_weight`` w_c = |c| / N_train, ``n_batches_in_class`` = the number of loader batches of class c.
    Gradients reach the embedder and the source head through ``probs``."""
    n = probs.shape[0]
    return class_weight * (n / n_batches_in_class) * entropy_loss(probs, eps)


def tau_penalty(grad: torch.Tensor, tau: float = 0.4, rho: float = 100.0) -> torch.Tensor:
    """The source head's gradient-norm penalty ``(rho / B) * sum max(0, ||g||_2 - tau)^2``.

    grad: dCE/dz for the patch-embedding output z, (B, T, D) (taken with ``create_graph=True`` so the penalty
    trains the head). The norm runs over axis 1, the token axis, giving (B, D) norms, every one of which is
    penalised, as the released code computes it (its comment says one norm per sample); a (B, D) gradient gives
    one norm per sample. B = grad.shape[0]."""
    norms = torch.linalg.vector_norm(grad, ord=2, dim=1)
    return (rho / grad.shape[0]) * torch.clamp_min(norms - tau, 0.0).pow(2).sum()
