"""Naive fine-tuning: no align stage; refine starts from the embedder as the original builds it without alignment."""

from orca.methods import AlignMethod

METHOD = AlignMethod("none", "naive fine-tuning: no alignment, refine from the untrained embedder", order=0)
