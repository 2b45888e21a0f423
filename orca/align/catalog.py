"""The align methods by name and whether each trains an embedder: plain data, no torch, read by the planner.

``orca.align.distances.ALIGNERS`` holds the aligner classes; a test keeps the two in step.
"""
from __future__ import annotations

import re

__all__ = ["SNAPSHOT_FILE", "TRAINS_EMBEDDER", "epoch_variant"]

#: align method -> does its align job train an embedder ("none" refines from the untrained one: naive fine-tuning)
TRAINS_EMBEDDER: dict[str, bool] = {
    "none": False, "l2": True, "mmd": True, "otdd-exact": True, "otdd-gaussian": True, "otdd-sliced": True,
}

#: an aligner's embedder taken after ``k`` of its align epochs (a table's ``align_epochs``): ``<aligner>-e<k>``
EPOCH_VARIANT = re.compile(r"^(?P<aligner>.+)-e(?P<epochs>[1-9][0-9]*)$")


def epoch_variant(method: str) -> tuple[str, int | None]:
    """(aligner, align epochs) of an embedder-epochs variant such as ``otdd-exact-e5``; (method, None) otherwise."""
    m = EPOCH_VARIANT.match(method)
    if m and TRAINS_EMBEDDER.get(m["aligner"]):
        return m["aligner"], int(m["epochs"])
    return method, None


#: the embedder an align job saves after k of its epochs, beside embedder.pt (the tables' align_epochs)
SNAPSHOT_FILE = "embedder-e{epochs}.pt"
