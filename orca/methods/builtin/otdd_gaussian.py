"""OTDD with the label distance between Gaussian fits of the classes (Bures-Wasserstein), with gradient."""

from orca.methods import AlignMethod


def make_aligner(solver: str = "converged"):
    """The otdd-gaussian aligner (orca/align/distances.py); ``solver``: converged or original (OTDD aligners only)."""
    from orca.align.distances import make_aligner as build

    return build("otdd-gaussian", solver=solver)


METHOD = AlignMethod(
    "otdd-gaussian",
    "align by OTDD with Gaussian (Bures-Wasserstein) label distances",
    make_aligner=make_aligner,
    order=4,
)
