"""The kinds of method (plain dataclasses, no torch): what a method file's ``METHOD`` is.

orca/methods/registry.py loads the files; the module docstring there says how to write one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

__all__ = ["AlignMethod", "BODIES", "ControlMethod", "Method", "MethodError", "distance_aligner"]

#: what a control's refine job uses as its body (orca/model/replacement_bodies.py)
BODIES = ("pretrained", "random", "attention1", "none")


class MethodError(ValueError):
    """A method file or a method setting that cannot be used; the message names the file or key and the fix."""


@dataclass(frozen=True)
class Method:
    """What every method has: its grid name, a one-line description, its own settings with their defaults,
    per-task values of those settings, and the published method it corresponds to (for the paper's tables)."""

    name: str
    description: str
    settings: dict = field(default_factory=dict)
    task_settings: dict = field(default_factory=dict)  # task name -> {setting: value}
    paper_method: str | None = None
    order: int = 100  # its place among the methods of its kind in reports (lower first; user methods last)
    file: str | None = None  # the file it was loaded from
    builtin: bool = False
    kind = "method"

    @property
    def trains_embedder(self) -> bool:
        return False


@dataclass(frozen=True)
class AlignMethod(Method):
    """An align objective. ``make_aligner(solver, **settings)`` returns an orca.align.distances.Aligner the align
    stage's class-wise loop minimises; or ``run_align(job, io, body=None, log=print) -> record`` replaces that loop
    with the method's own procedure (same outputs: embedder.pt, align.json). Neither: no align stage (``none``)."""

    make_aligner: Callable | None = None
    run_align: Callable | None = None
    kind = "align"

    @property
    def trains_embedder(self) -> bool:
        return self.make_aligner is not None or self.run_align is not None


@dataclass(frozen=True)
class ControlMethod(Method):
    """A control: refine without an aligned embedder, with body ``body`` (one of BODIES) and the refine settings
    ``refine`` it writes into its refine job's settings (e.g. ``{"finetune": "lora"}``)."""

    body: str = "pretrained"
    refine: dict = field(default_factory=dict)
    kind = "control"


def distance_aligner(name: str) -> Callable:
    """``make_aligner`` for the aligner ``name`` of orca/align/distances.py (its ALIGNERS), torch imported only when
    it is built: ``make_aligner(solver="converged", **options)``; ``solver`` matters to the OTDD aligners only."""

    def make_aligner(solver: str = "converged", **options):
        from ..align.distances import make_aligner as build

        return build(name, solver=solver, **options)

    make_aligner.__doc__ = f"The {name} aligner of orca/align/distances.py (``solver``: converged or original)."
    return make_aligner
