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
    """A local Hugging Face folder with a tiny random RoBERTa, used as a local weights folder (backbone_weights, --weights)."""
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


@pytest.fixture(scope="module")
def iris_with_source(tmp_path_factory, tiny_text_body):
    """A folder with iris fetched into ``data/`` (the real openml client) and random source features ``src.npz``
    (200 rows of the tiny text body's width, 4 classes), for align and refine on a real task."""
    import numpy as np

    from orca.data import fetch
    from orca.spec.tasks import load_task
    from orca.stages.sources import save_source

    root = tmp_path_factory.mktemp("iris")
    task = load_task("benchmarks/offline/iris.yaml")
    fetch(task.data.loader, task.data.args, root / "data")
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(200, tiny_text_body.width)).astype(np.float32)
    save_source({"xs": xs, "ys": rng.integers(0, 4, 200), "origin": "test"}, root / "src.npz")
    return root
