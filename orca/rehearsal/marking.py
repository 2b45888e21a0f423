"""Marks on a rehearsal's table outputs, so that its numbers can never pass for results.

In a rehearsal (:func:`orca.rehearsal.active`) every CSV gets a first column ``rehearsal`` (True on
every row) and the titles of the Markdown, LaTeX and figure carry :data:`orca.rehearsal.LABEL`.
Outside a rehearsal nothing changes.
"""
from __future__ import annotations

from . import LABEL, active


def title(table: str) -> str:
    """The table's title as reports show it: ``<table> [REHEARSAL: ...]`` in a rehearsal."""
    return f"{table} [{LABEL}]" if active() else table


def mark_frame(df):
    """``df`` with a first column ``rehearsal`` = True in a rehearsal (a copy); else ``df`` itself."""
    if not active():
        return df
    out = df.copy()
    out.insert(0, "rehearsal", True)
    return out
