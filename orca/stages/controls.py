"""The reproduction study's controls (Garcia-de-Herreros et al., NAACL 2024) as grid methods.

A control is naive fine-tuning (no align stage) with the body changed in one way:

- ``frozen-body``: the pretrained body's weights stay fixed except its layer norms, as in FPT
  (Lu et al., 2021): only the embedder, the body's LayerNorm parameters and the head train.
- ``random-body``: the same architecture with random weights (no pretraining); everything trains.

Together with ``none`` (pretrained body, everything trains) and the aligners they answer whether
the pretrained weights and the alignment matter on a row.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only where a body is frozen: the planner reads CONTROLS without it
    from torch import nn


@dataclass(frozen=True)
class Control:
    """A method that refines without an aligned embedder, with the body in ``body_mode``."""

    name: str
    body_mode: str  # "frozen" | "random"
    paper_method: str | None  # the published method it corresponds to, if any
    description: str


CONTROLS: dict[str, Control] = {c.name: c for c in [
    Control("frozen-body", "frozen", "FPT",
            "pretrained body frozen except its layer norms; embedder, layer norms and head train (FPT)"),
    Control("random-body", "random", None,
            "randomly initialised body of the same architecture; everything trains (no pretraining)"),
]}
BODY_MODES = ("pretrained", "frozen", "random")


def body_mode_of(method: str) -> str:
    """The body mode a method refines with: a control's own, else the pretrained body."""
    return CONTROLS[method].body_mode if method in CONTROLS else "pretrained"


def freeze_except_layer_norms(body: nn.Module) -> int:
    """Stop gradients to every body parameter outside a LayerNorm; returns how many parameters still train."""
    from torch import nn

    for p in body.parameters():
        p.requires_grad_(False)
    trainable = 0
    for module in body.modules():
        if isinstance(module, nn.LayerNorm):
            for p in module.parameters():
                p.requires_grad_(True)
                trainable += p.numel()
    return trainable
