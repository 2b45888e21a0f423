"""Which of a body's weights train in refine (``refine.finetune``): all of them, LoRA adapters, or layer norms.

- ``full``: every body weight trains (the released ORCA code's fine-tuning).
- ``lora``: the body's weights are frozen and LoRA adapters (Hu et al., 2022) are added to its attention
  projections through ``peft`` (``inject_adapter_in_model``: the body stays a plain module, its forward
  unchanged); ``refine.lora`` gives rank, alpha, dropout and the target modules (null: the self-attention
  query and value projections, as in the LoRA paper: ``query``/``value`` in BERT and RoBERTa, ``q_proj``/
  ``v_proj`` in Swin).
- ``frozen``: the body's weights are frozen except its LayerNorms (FPT, the ``frozen-body`` control).

The embedder and the head always train.
"""
from __future__ import annotations

import torch
from torch import nn

from ..spec.tasks import DEFAULTS
from ..stages.controls import FINETUNES, freeze_except_layer_norms

#: refine.lora where none is given: the task files' default (orca/spec/tasks.py; peft's LoraConfig defaults)
LORA_DEFAULTS = DEFAULTS["refine"]["lora"]
#: the attention projections LoRA adapts when refine.lora.target_modules is null (query and value)
DEFAULT_TARGETS = ("query", "value", "q_proj", "v_proj")


def lora_targets(module: nn.Module, names: list[str] | None) -> list[str]:
    """The Linear layers of ``module`` LoRA adapts, as peft target names (the last part of a module's name):
    ``names``, or the query and value projections the module has (:data:`DEFAULT_TARGETS`)."""
    present = {n.rsplit(".", 1)[-1] for n, m in module.named_modules() if isinstance(m, nn.Linear)}
    wanted = list(names) if names else [n for n in DEFAULT_TARGETS if n in present]
    missing = [n for n in wanted if n not in present]
    if not wanted or missing:
        raise ValueError(f"refine.lora.target_modules: {missing or 'no query/value projection'} not among the body's "
                         f"Linear layers ({', '.join(sorted(present))}); name some of those in the task file")
    return wanted


def apply_finetune(body: nn.Module, finetune: str, lora: dict | None = None, seed: int = 0) -> dict:
    """Set which of ``body``'s weights train (see the module docstring); returns what was done:
    ``{"finetune", "body_trainable_parameters"[, "lora"]}`` (lora: the settings with the resolved targets).
    LoRA's random A matrices are drawn from ``seed`` without touching the global random stream."""
    if finetune not in FINETUNES:
        raise ValueError(f"unknown refine.finetune {finetune!r}; allowed: {', '.join(FINETUNES)}")
    out: dict = {"finetune": finetune}
    if finetune == "frozen":
        freeze_except_layer_norms(body)
    elif finetune == "lora":
        from peft import LoraConfig, inject_adapter_in_model

        settings = {**LORA_DEFAULTS, **(lora or {})}
        encoder = body.encoder if hasattr(body, "encoder") else body
        targets = lora_targets(encoder, settings["target_modules"])
        config = LoraConfig(r=int(settings["rank"]), lora_alpha=settings["alpha"],
                            lora_dropout=float(settings["dropout"]), target_modules=targets, bias="none")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            inject_adapter_in_model(config, encoder)
        for name, p in body.named_parameters():
            p.requires_grad_("lora_" in name)
        out["lora"] = {**settings, "target_modules": targets}
    out["body_trainable_parameters"] = sum(p.numel() for p in body.parameters() if p.requires_grad)
    return out
