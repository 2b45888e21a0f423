"""OTDD (exact label distances): ORCA's align objective, as its released configs run it (objective: otdd-exact)."""

from orca.methods import AlignMethod


def make_aligner(solver: str = "converged"):
    """The otdd-exact aligner (orca/align/distances.py); ``solver``: converged or original (OTDD aligners only)."""
    from orca.align.distances import make_aligner as build

    return build("otdd-exact", solver=solver)


METHOD = AlignMethod(
    "otdd-exact",
    "align by OTDD with exact (Sinkhorn) label distances: ORCA's objective",
    make_aligner=make_aligner,
    paper_method="ORCA",
    order=3,
)
