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
