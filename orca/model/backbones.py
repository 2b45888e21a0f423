"""Backbone registry: a name -> a Hugging Face body, its width and how to feed it token embeddings.

A *body* is the pretrained transformer without its input embedding layer. ORCA replaces that layer
with a task-specific embedder, so every body here takes token embeddings ``(B, T, width)`` and
returns hidden states. Two families cover the paper:

- ``text``  (BERT, RoBERTa, MiniLM): tokens are a 1D sequence; the body's own embedding layer
  provides the LayerNorm and position embeddings that initialise a 1D embedder.
- ``image`` (Swin): tokens are a patch grid ``(h, w)``; the body's patch projection initialises a
  2D embedder, and the encoder downsamples the grid by 2 per stage.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .specs import BACKBONES, BackboneSpec, get_backbone_spec  # noqa: F401  (re-exported)


@dataclass
class EmbeddingInit:
    """What a task embedder copies from a body: its input-embedding tensors and a few facts.

    Saved once per backbone next to the source features, so align jobs build their embedder
    without loading the body (or importing transformers).
    layernorm: {"weight": (D,), "bias": (D,)}; positions: (P, D), text bodies, already offset;
    patch_weight: (D, 3, p, p) and patch_bias: (D,), image bodies.
    """

    name: str
    family: str
    width: int
    max_positions: int | None
    image_size: int | None
    layernorm: dict
    positions: torch.Tensor | None = None
    patch_weight: torch.Tensor | None = None
    patch_bias: torch.Tensor | None = None

    def save(self, path: str | Path) -> None:
        from ..runtime.process import atomic_torch_save

        atomic_torch_save(dict(self.__dict__), path)

    @classmethod
    def load(cls, path: str | Path) -> "EmbeddingInit":
        return cls(**torch.load(path, map_location="cpu", weights_only=True))


class TextBody(nn.Module):
    """A BERT-family encoder fed with token embeddings. forward: (B, T, D) -> (B, T, D)."""

    family = "text"

    def __init__(self, hf_model: nn.Module, spec: BackboneSpec):
        super().__init__()
        self.spec = spec
        self.config = hf_model.config
        self.encoder = hf_model.encoder
        emb = hf_model.embeddings
        # Kept (frozen, outside the trained graph) only to initialise embedders and embed source text.
        self._input_embeddings = [emb]
        self.width = hf_model.config.hidden_size
        self.out_width = self.width
        self.max_positions = hf_model.config.max_position_embeddings - spec.position_offset
        self.downsample = 1  # tokens keep the embedder's grid (2D inputs on a text body)

    @property
    def input_embeddings(self) -> nn.Module:
        return self._input_embeddings[0]

    def forward(self, tokens: torch.Tensor, grid=None):
        """grid: None (1D) or the embedder's patch grid (h, w), passed through unchanged."""
        return self.encoder(tokens).last_hidden_state, grid

    def embedding_init(self) -> EmbeddingInit:
        emb, off = self.input_embeddings, self.spec.position_offset
        return EmbeddingInit(self.spec.name, self.family, self.width, self.max_positions, None,
                             {k: v.detach().clone() for k, v in emb.LayerNorm.state_dict().items()},
                             positions=emb.position_embeddings.weight[off:].detach().clone())

    def embed_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> the body's own input embeddings (B, T, D) (word + position + LayerNorm)."""
        return self.input_embeddings(input_ids=input_ids)


class ImageBody(nn.Module):
    """A Swin encoder fed with patch tokens. forward: (B, h*w, D), grid (h, w) -> (B, h'*w', D'), (h', w')."""

    family = "image"

    def __init__(self, hf_model: nn.Module, spec: BackboneSpec):
        super().__init__()
        self.spec = spec
        self.config = hf_model.config
        self.encoder = hf_model.encoder
        self.layernorm = hf_model.layernorm
        self._input_embeddings = [hf_model.embeddings]
        self.width = hf_model.config.embed_dim
        self.image_size = hf_model.config.image_size  # the side this body's config was built for (224 for Swin-base)
        self.out_width = hf_model.num_features
        self.downsample = 2 ** (len(hf_model.config.depths) - 1)
        self.max_positions = None

    @property
    def input_embeddings(self) -> nn.Module:
        return self._input_embeddings[0]

    @property
    def patch_weight(self) -> torch.Tensor:
        """The pretrained patch projection weight (D, 3, p, p)."""
        return self.input_embeddings.patch_embeddings.projection.weight

    def embedding_init(self) -> EmbeddingInit:
        patches = self.input_embeddings.patch_embeddings.projection
        return EmbeddingInit(self.spec.name, self.family, self.width, None, self.image_size,
                             {k: v.detach().clone() for k, v in self.input_embeddings.norm.state_dict().items()},
                             patch_weight=patches.weight.detach().clone(), patch_bias=patches.bias.detach().clone())

    def forward(self, tokens: torch.Tensor, grid):
        out = self.encoder(tokens, tuple(grid)).last_hidden_state
        h, w = grid
        return self.layernorm(out), (max(1, -(-h // self.downsample)), max(1, -(-w // self.downsample)))

    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels (B, 3, H, W) -> the body's own patch embeddings (B, T, D)."""
        return self.input_embeddings(pixels)[0]


#: body.attention values: the attention implementation transformers runs the body's self-attention with
ATTENTIONS = ("eager", "sdpa")
#: The released ORCA code's path (code release 2023-02-06; its otdd environment pins torchvision 0.9.1, i.e.
#: torch 1.8): ``torch.nn.functional.scaled_dot_product_attention`` arrived in PyTorch 2.0 (March 2023), and
#: transformers gained an sdpa path for BERT in 2024 (huggingface/transformers#28802) and for RoBERTa after it
#: (#30510); Swin's attention was its own matmul-softmax-matmul. So every body it ran used eager attention.
#: Current transformers picks sdpa when nothing is asked for, hence the explicit default.
DEFAULT_ATTENTION = "eager"


def check_attention(name: str, attention: str | None, config) -> str:
    """The attention implementation to build backbone ``name`` with (None: :data:`DEFAULT_ATTENTION`);
    ValueError naming ``body.attention`` for an unknown value or an sdpa the model type lacks."""
    attention = DEFAULT_ATTENTION if attention is None else attention
    if attention not in ATTENTIONS:
        raise ValueError(f"unknown attention {attention!r} for backbone {name!r}; allowed: {', '.join(ATTENTIONS)} "
                         "(set body.attention in the task file to one of them)")
    if attention == "sdpa" and not _supports_sdpa(config):
        import transformers

        raise ValueError(f"backbone {name!r} ({config.model_type}) has no sdpa attention in transformers "
                         f"{transformers.__version__}; set body.attention: eager in the task file (or install a "
                         "transformers whose model supports sdpa)")
    return attention


def _supports_sdpa(config) -> bool:
    """Whether the transformers model class ``AutoModel`` builds for ``config`` has an sdpa attention path."""
    from transformers import MODEL_MAPPING

    return bool(getattr(MODEL_MAPPING[type(config)], "_supports_sdpa", False))


def body_config(name: str, pretrained: bool = True, config_overrides: dict | None = None,
                dropout: float | None = None, weights: str | None = None, attention: str | None = None):
    """The Hugging Face config a body is built from, with ``dropout`` (when not None) and ``attention`` written in.

    pretrained: the checkpoint's own config; otherwise the architecture in ``BackboneSpec.arch`` (offline), with
    ``config_overrides`` on top. As the original wrappers do, ``dropout`` sets the body's hidden and attention
    dropout (``hidden_dropout_prob``, ``attention_probs_dropout_prob``, RoBERTa/BERT and Swin alike) *before*
    the weights load, so every dropout layer of the body is built with it. ``attention`` (task file
    ``body.attention``: eager or sdpa; None: :data:`DEFAULT_ATTENTION`, the released code's) becomes the config's
    attention implementation (``check_attention``).
    """
    from transformers import AutoConfig

    spec = get_backbone_spec(name)
    if pretrained:
        where = spec.location(weights)
        try:
            config = AutoConfig.from_pretrained(where)
        except OSError as err:
            raise _unreachable(name, where, err) from err
        for key, value in (config_overrides or {}).items():
            setattr(config, key, value)
    else:
        config = AutoConfig.for_model(spec.model_type, **{**dict(spec.arch), **(config_overrides or {})})
    if dropout is not None:
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"body dropout must be in [0, 1], got {dropout}; fix body.dropout in the task file")
        config.hidden_dropout_prob = float(dropout)
        config.attention_probs_dropout_prob = float(dropout)
    config._attn_implementation = check_attention(name, attention, config)
    return config


def _unreachable(name: str, where: str, err: Exception) -> RuntimeError:
    return RuntimeError(
        f"cannot load the pretrained backbone {name!r} from {where!r}: {err}. Set backbone_weights: "
        f"{{{name}: /path/to/folder}} in the config (or --weights for a single `orca` command) to a local folder "
        "holding its Hugging Face files (config.json and weights), or run where the Hugging Face hub is reachable."
    )


def load_body(name: str, pretrained: bool = True, config_overrides: dict | None = None,
              dropout: float | None = None, seed: int = 0, rehearsal: bool = False,
              weights: str | None = None, attention: str | None = None) -> TextBody | ImageBody:
    """Build the body of backbone ``name``.

    pretrained=True loads the released weights. pretrained=False builds the same architecture with random
    weights (the original wrappers' ``from_scratch``: ``AutoModel.from_config``), drawn from ``seed`` without
    touching the global random stream, so align and refine jobs of one seed build the same random body;
    ``config_overrides`` (e.g. ``tiny_config(name)``) shrinks it for tests. ``dropout``: see ``body_config``.
    ``weights``: where the pretrained weights are (hub id or local folder; None: the spec's source).
    ``attention``: the self-attention implementation, eager (None: the default, the released code's) or sdpa
    (``body_config``); ``body.attention`` says which one the body runs.
    In a rehearsal (``rehearsal=True``, the job's mode) every body is a tiny random one of the same architecture;
    its stand-in for the pretrained weights is one fixed draw (``orca.rehearsal.BODY_SEED``), the same in every
    job; ``body.rehearsal`` says so.
    """
    from transformers import AutoModel

    from ..rehearsal import BODY_SEED

    if rehearsal:
        config_overrides = {**tiny_config(name), **(config_overrides or {})}  # tiny, same architecture
        pretrained, seed = False, (BODY_SEED if pretrained else seed)
    spec = get_backbone_spec(name)
    config = body_config(name, pretrained, config_overrides, dropout, weights, attention)
    if pretrained:
        try:
            model = AutoModel.from_pretrained(spec.location(weights), config=config,
                                              attn_implementation=config._attn_implementation)
        except OSError as err:
            raise _unreachable(name, spec.location(weights), err) from err
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModel.from_config(config, attn_implementation=config._attn_implementation)
    model.eval()
    body_class = TextBody if spec.family == "text" else ImageBody
    body = body_class(model, spec)
    body.rehearsal = rehearsal
    body.attention = model.config._attn_implementation
    body.weights = None if rehearsal else spec.location(weights) if pretrained else None
    return body


def tiny_config(name: str) -> dict:
    """Config overrides giving a small random body of the same family (for tests)."""
    spec = get_backbone_spec(name)
    if spec.family == "text":
        return {"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
    # two stages: the grid is downsampled once, so pixels per final token = patch_size 4 x 2 = encoder_stride 8
    return {"embed_dim": 16, "depths": [1, 1], "num_heads": [1, 2], "window_size": 7, "image_size": 56,
            "encoder_stride": 8}
