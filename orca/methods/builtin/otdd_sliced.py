"""Sliced OTDD: our simplified variant in the spirit of s-OTDD (orca/align/_sliced.py)."""

from orca.methods import AlignMethod


def make_aligner(solver: str = "converged"):
    """The otdd-sliced aligner (orca/align/distances.py); ``solver``: converged or original (OTDD aligners only)."""
    from orca.align.distances import make_aligner as build

    return build("otdd-sliced", solver=solver)


METHOD = AlignMethod(
    "otdd-sliced",
    "align by a sliced OTDD (diagonal-Gaussian label distances; ours)",
    make_aligner=make_aligner,
    order=5,
)
