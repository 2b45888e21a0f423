"""MMD: the biased squared maximum mean discrepancy with a multi-bandwidth Gaussian kernel."""

from orca.methods import AlignMethod


def make_aligner(solver: str = "converged"):
    """The mmd aligner (orca/align/distances.py); ``solver``: converged or original (OTDD aligners only)."""
    from orca.align.distances import make_aligner as build

    return build("mmd", solver=solver)


METHOD = AlignMethod(
    "mmd", "align to the source by a multi-bandwidth Gaussian-kernel MMD", make_aligner=make_aligner, order=2
)
