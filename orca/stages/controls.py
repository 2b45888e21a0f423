"""Controls and fine-tuning schemes as grid methods: refine without an aligned embedder, one thing changed.

A control is naive fine-tuning (no align stage) with the body or the way it trains changed in one way:

- ``frozen-body``: the pretrained body's weights stay fixed except its layer norms, as in FPT
  (Lu et al., 2021): only the embedder, the body's LayerNorm parameters and the head train
  (``refine.finetune: frozen``).
- ``lora``: the pretrained body frozen, with LoRA adapters (Hu et al., 2022; through ``peft``) on its
  attention projections; the adapters, the embedder and the head train (``refine.finetune: lora``,
  ``refine.lora``: rank, alpha, dropout, target modules).
- ``random-body``: the same architecture with random weights (no pretraining); everything trains
  (Garcia-de-Herreros et al., NAACL 2024, the reproduction study of ORCA).
- ``attention1-body``: the body replaced by one randomly initialised multi-head self-attention layer of
  the body's width (Tan et al., NeurIPS 2024, "LLM2Attn"); ``no-body``: no body at all, the embedder's
  tokens go straight to the head ("w/o LLM"). orca/model/replacement_bodies.py builds both.

Together with ``none`` (pretrained body, everything trains) and the aligners they answer whether the
pretrained weights, the alignment and full fine-tuning matter on a row. A control's ``refine`` settings are
written into its refine job's settings document (orca.spec.jobs.resolve_job), so they are in its hash and
the job reads them from there like any other setting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only where a body is frozen: the planner reads CONTROLS without it
    from torch import nn


@dataclass(frozen=True)
class Control:
    """A method that refines without an aligned embedder, with body ``body`` and refine settings ``refine``."""

    name: str
    body: str  # one of BODIES
    paper_method: str | None  # the published method it corresponds to, if any
    description: str
    refine: dict = field(default_factory=dict)  # refine settings it sets (e.g. {"finetune": "frozen"})


#: what a refine job's body is: the backbone's pretrained weights, the same architecture with random weights, one
#: random self-attention layer of its width, or nothing (orca/model/replacement_bodies.py)
BODIES = ("pretrained", "random", "attention1", "none")
#: refine.finetune values: which of the body's weights train (embedder and head always do)
FINETUNES = ("full", "lora", "frozen")

CONTROLS: dict[str, Control] = {c.name: c for c in [
    Control("frozen-body", "pretrained", "FPT",
            "pretrained body frozen except its layer norms; embedder, layer norms and head train (FPT)",
            {"finetune": "frozen"}),
    Control("lora", "pretrained", None,
            "pretrained body frozen with LoRA adapters on its attention projections (peft); adapters, embedder and "
            "head train", {"finetune": "lora"}),
    Control("random-body", "random", None,
            "randomly initialised body of the same architecture; everything trains (no pretraining)"),
    Control("attention1-body", "attention1", None,
            "the body replaced by one randomly initialised multi-head self-attention layer of its width (LLM2Attn)"),
    Control("no-body", "none", None, "no body: the embedder's tokens go straight to the head (w/o LLM)"),
]}


def body_of(method: str) -> str:
    """What a method's refine job uses as its body: a control's own, else the pretrained body."""
    return CONTROLS[method].body if method in CONTROLS else "pretrained"


def method_refine_settings(method: str | None) -> dict:
    """The refine settings a method sets in its job's settings document (empty for an aligner or ``none``)."""
    return dict(CONTROLS[method].refine) if method in CONTROLS else {}


def finetune_of(method: str, default: str = "full") -> str:
    """The ``refine.finetune`` a method's refine job runs: the control's own, else ``default`` (the task's)."""
    return method_refine_settings(method).get("finetune", default)


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
