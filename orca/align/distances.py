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

# The aligners live in private modules by family (as POT splits its solvers); this module is their public face:
# `from orca.align import distances as D` and `D.<name>` reach every one of them.
from ._bures import _bw_cross_trace, _psd_sqrt, _sqrt_eig_sum  # noqa: F401
from ._helpers import _padded_classes, _relabel, _sqdist, _subsample  # noqa: F401
from ._moments import Aligner, L2Aligner, MMDAligner, NoneAligner
from ._otdd import OTDDExactAligner, OTDDGaussianAligner, _OTDDBase  # noqa: F401
from ._sinkhorn import SOLVER_STATS, _sinkhorn_potentials, sinkhorn_cost, sinkhorn_cost_sym  # noqa: F401
from ._sliced import OTDDSlicedAligner

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
