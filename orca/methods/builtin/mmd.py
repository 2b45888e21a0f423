"""MMD: the biased squared maximum mean discrepancy with a multi-bandwidth Gaussian kernel."""

from orca.methods import AlignMethod, distance_aligner


METHOD = AlignMethod(
    "mmd", "align to the source by a multi-bandwidth Gaussian-kernel MMD", make_aligner=distance_aligner("mmd"), order=2
)
