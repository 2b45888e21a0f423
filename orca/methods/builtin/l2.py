"""L2: the squared Euclidean distance between the mean source and mean target features (label-blind)."""

from orca.methods import AlignMethod


def make_aligner(solver: str = "converged"):
    """The l2 aligner (orca/align/distances.py); ``solver``: converged or original (OTDD aligners only)."""
    from orca.align.distances import make_aligner as build

    return build("l2", solver=solver)


METHOD = AlignMethod(
    "l2",
    "align to the source by the squared distance between feature means (label-blind)",
    make_aligner=make_aligner,
    order=1,
)
