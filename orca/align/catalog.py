"""Align methods as the planner and the report see them: whether one trains an embedder, and the embedder-epochs
variants ``<aligner>-e<k>`` of a table's ``align_epochs``. Plain data, no torch; the methods themselves are files
(orca/methods/registry.py).
"""
from __future__ import annotations

import re

__all__ = ["SNAPSHOT_FILE", "epoch_variant", "trains_embedder"]

#: an aligner's embedder taken after ``k`` of its align epochs (a table's ``align_epochs``): ``<aligner>-e<k>``
EPOCH_VARIANT = re.compile(r"^(?P<aligner>.+)-e(?P<epochs>[1-9][0-9]*)$")


def trains_embedder(method: str) -> bool:
    """Whether ``method``'s refine job starts from an aligned embedder (an align method other than ``none``, or an
    embedder-epochs variant of one); False for a name that is no method."""
    from ..methods import all_methods

    base = epoch_variant(method)[0]
    found = all_methods().get(base)
    return bool(found is not None and found.trains_embedder)


def epoch_variant(method: str) -> tuple[str, int | None]:
    """(aligner, align epochs) of an embedder-epochs variant such as ``otdd-exact-e5``; (method, None) otherwise."""
    from ..methods import all_methods

    m = EPOCH_VARIANT.match(method)
    if m and method not in all_methods():
        found = all_methods().get(m["aligner"])
        if found is not None and found.trains_embedder:
            return m["aligner"], int(m["epochs"])
    return method, None


#: the embedder an align job saves after k of its epochs, beside embedder.pt (the tables' align_epochs)
SNAPSHOT_FILE = "embedder-e{epochs}.pt"
