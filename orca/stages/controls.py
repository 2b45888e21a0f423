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
the job reads them from there like any other setting. Each control is one file in orca/methods/builtin/ (a
``ControlMethod``: its body and refine settings); this module answers for any registered one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only where a body is frozen: the planner reads the controls without it
    from torch import nn


#: refine.finetune values: which of the body's weights train (embedder and head always do)
FINETUNES = ("full", "lora", "frozen")


def _control(method: str | None):
    from ..methods import ControlMethod, all_methods

    found = all_methods().get(method) if method else None
    return found if isinstance(found, ControlMethod) else None


def body_of(method: str) -> str:
    """What a method's refine job uses as its body: a control's own, else the pretrained body."""
    control = _control(method)
    return control.body if control else "pretrained"


def method_refine_settings(method: str | None) -> dict:
    """The refine settings a method sets in its job's settings document (empty for an aligner or ``none``)."""
    control = _control(method)
    return dict(control.refine) if control else {}


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
