"""Shared fixtures: tiny random bodies (no weights needed) and a throw-away task."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("ORCA_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_text_body():
    from orca.backbones import load_body, tiny_config

    return load_body("roberta-base", pretrained=False, config_overrides=tiny_config("roberta-base"))


@pytest.fixture(scope="session")
def tiny_image_body():
    from orca.backbones import load_body, tiny_config

    return load_body("swin-base", pretrained=False, config_overrides=tiny_config("swin-base"))


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory):
    """A local Hugging Face folder with a tiny random RoBERTa, used via ORCA_BACKBONE_ROBERTA_BASE."""
    from transformers import AutoConfig, AutoModel

    from orca.backbones import get_backbone_spec, tiny_config

    import torch

    folder = tmp_path_factory.mktemp("tiny-roberta")
    torch.manual_seed(0)
    spec = get_backbone_spec("roberta-base")
    cfg = AutoConfig.for_model("roberta", **{**dict(spec.arch), **tiny_config("roberta-base")})
    AutoModel.from_config(cfg).save_pretrained(folder)
    return folder
