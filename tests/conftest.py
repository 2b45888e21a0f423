"""Shared fixtures: tiny random bodies (no weights needed) and a throw-away task."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("ORCA_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_text_body():
    from orca.model.backbones import load_body, tiny_config

    return load_body("roberta-base", pretrained=False, config_overrides=tiny_config("roberta-base"))


@pytest.fixture(scope="session")
def tiny_image_body():
    from orca.model.backbones import load_body, tiny_config

    return load_body("swin-base", pretrained=False, config_overrides=tiny_config("swin-base"))


@pytest.fixture(scope="session")
def tiny_roberta_dir(tmp_path_factory):
    """A local Hugging Face folder with a tiny random RoBERTa, used via ORCA_BACKBONE_ROBERTA_BASE."""
    from transformers import AutoConfig, AutoModel

    from orca.model.backbones import get_backbone_spec, tiny_config

    import torch

    folder = tmp_path_factory.mktemp("tiny-roberta")
    torch.manual_seed(0)
    spec = get_backbone_spec("roberta-base")
    cfg = AutoConfig.for_model("roberta", **{**dict(spec.arch), **tiny_config("roberta-base")})
    AutoModel.from_config(cfg).save_pretrained(folder)
    return folder


@pytest.fixture
def toy_task(tmp_path):
    """Factory ``make(arrays, overrides=None, name="toy") -> Task``: saves ``arrays`` (x_train, y_train, x_test,
    y_test and any extra per-sample arrays such as clip_ids_test) to an .npz under tmp_path and writes a task file
    reading it with the ``arrays`` loader (1d dense defaults, 1 epoch); data_dir is ``tmp_path / "data"``."""
    import numpy as np
    import yaml

    from orca.spec.tasks import load_task

    def make(arrays: dict, overrides: dict | None = None, name: str = "toy"):
        np.savez(tmp_path / f"{name}.npz", **arrays)
        def spec_of(key: str) -> dict:
            return {"file": f"{name}.npz", "key": key}

        fields = ("x_train", "y_train", "x_test", "y_test")
        args = {"root": str(tmp_path), **{f: spec_of(f) for f in fields}}
        extras = {k: spec_of(k) for k in arrays if k not in fields}
        if extras:
            args["extras"] = extras
        spec = {"name": name, "title": name, "suite": "test", "input": {"modality": "1d"},
                "output": {"kind": "dense"}, "data": {"loader": "arrays", "args": args},
                "loss": {"name": "relative_l2"}, "metric": "nrmse", "embedder": {"target_seq_len": 8},
                "align": {"epochs": 1, "maxsamples": 8}, "refine": {"epochs": 1, "batch_size": 8}}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec))
        return load_task(path, overrides)

    return make
