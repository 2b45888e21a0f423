"""Sliced OTDD: our simplified variant in the spirit of s-OTDD (orca/align/_sliced.py)."""

from orca.methods import AlignMethod, distance_aligner


METHOD = AlignMethod(
    "otdd-sliced",
    "align by a sliced OTDD (diagonal-Gaussian label distances; ours)",
    make_aligner=distance_aligner("otdd-sliced"),
    order=5,
)
