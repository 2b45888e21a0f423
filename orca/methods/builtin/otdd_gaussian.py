"""OTDD with the label distance between Gaussian fits of the classes (Bures-Wasserstein), with gradient."""

from orca.methods import AlignMethod, distance_aligner


METHOD = AlignMethod(
    "otdd-gaussian",
    "align by OTDD with Gaussian (Bures-Wasserstein) label distances",
    make_aligner=distance_aligner("otdd-gaussian"),
    order=4,
)
