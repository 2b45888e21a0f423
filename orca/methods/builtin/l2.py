"""L2: the squared Euclidean distance between the mean source and mean target features (label-blind)."""

from orca.methods import AlignMethod, distance_aligner


METHOD = AlignMethod(
    "l2",
    "align to the source by the squared distance between feature means (label-blind)",
    make_aligner=distance_aligner("l2"),
    order=1,
)
