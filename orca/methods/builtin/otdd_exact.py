"""OTDD (exact label distances): ORCA's align objective, as its released configs run it (objective: otdd-exact)."""

from orca.methods import AlignMethod, distance_aligner


METHOD = AlignMethod(
    "otdd-exact",
    "align by OTDD with exact (Sinkhorn) label distances: ORCA's objective",
    make_aligner=distance_aligner("otdd-exact"),
    paper_method="ORCA",
    order=3,
)
