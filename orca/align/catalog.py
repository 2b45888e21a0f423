"""The align methods by name and whether each trains an embedder: plain data, no torch, read by the planner.

``orca.align.distances.ALIGNERS`` holds the aligner classes; a test keeps the two in step.
"""
from __future__ import annotations

__all__ = ["TRAINS_EMBEDDER"]

#: align method -> does its align job train an embedder ("none" refines from the untrained one: naive fine-tuning)
TRAINS_EMBEDDER: dict[str, bool] = {
    "none": False, "l2": True, "mmd": True, "otdd-exact": True, "otdd-gaussian": True, "otdd-sliced": True,
}
