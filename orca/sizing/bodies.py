"""Full-size bodies with random weights, saved once to a local folder and loaded back through
``from_pretrained``: the real architecture and the real loading path, without the (unreachable) released weights.

The folder holds what a downloaded checkpoint holds (``config.json``, ``model.safetensors``) plus a note saying
the weights are random; ``load_body(name, pretrained=True, weights=folder)`` then reads it exactly as it reads
a user's local copy of the released weights.
"""
from __future__ import annotations

import shutil
from pathlib import Path

NOTE = "SIZING_RANDOM_WEIGHTS.txt"


def full_size_folder(name: str, cache_dir: str | Path, seed: int = 0) -> Path:
    """``<cache_dir>/sizing/bodies/<name>``: the full-size architecture of backbone ``name`` with random weights
    drawn from ``seed``, written on first use (atomically: a half-written folder is never used)."""
    import torch
    from transformers import AutoModel

    from ..model.backbones import body_config

    folder = Path(cache_dir) / "sizing" / "bodies" / name
    if (folder / NOTE).is_file():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    config = body_config(name, pretrained=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModel.from_config(config)
    model.save_pretrained(tmp)
    (tmp / NOTE).write_text(f"Random weights of the full-size {name} architecture (seed {seed}), written by "
                            "orca sizing to measure memory and time; not the released weights.\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def folder_mb(folder: str | Path) -> float:
    """Bytes on disk of a body folder, in MB."""
    return round(sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20, 1)
