"""The CI subset of the real-size sizing: one 1D paper row on the full-size RoBERTa-base and one 2D paper row on
the full-size Swin-base (random weights written to a local folder and read back through from_pretrained), one
step per micro-batch. The whole paper config is `orca size --configfile config/paper.yaml` (docs/sizing.md)."""
from __future__ import annotations

import json

from .conftest import orca, sizing_config

ROWS = {"satellite": "roberta-base", "ninapro": "swin-base"}


def test_one_1d_and_one_2d_paper_row_at_full_size(tmp_path):
    tables = {f"t_{task}": {"title": task, "tasks": [task], "backbones": [bb], "aligners": ["none"], "seeds": [0]}
              for task, bb in ROWS.items()}
    cfg = sizing_config(tmp_path, tables, {"micro_batches": [1, 4], "direct_below_mb": 0, "precisions": ["fp32"]})
    out = tmp_path / "sizing"
    done = orca("size", "--configfile", cfg, "--sizing-dir", str(out), timeout=1200)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-3000:])
    for task, bb in ROWS.items():
        rec = json.loads((out / f"{task}--{bb}--cpu.json").read_text())
        full = rec["refine"]["full"]
        folder = tmp_path / "cache" / "sizing" / "bodies" / bb
        assert (folder / "model.safetensors").stat().st_size > 300 * 2**20  # a full-size body, not a tiny one
        # RoBERTa-base's encoder is 85.1 M weights (its 38.6 M word embeddings are replaced by the embedder);
        # Swin-base's encoder and final norm 86.7 M
        assert 84e6 < full["parameters"] < 90e6, full["parameters"]
        at = full["precisions"]["fp32"]["at_batch"]
        assert at["scaled_from"] == [1, 4] and at["step_s"] > 0
        assert at["peak_rss_mb"] > full["precisions"]["fp32"]["measured"][-1]["peak_rss_mb"]  # more rows, more memory
        assert full["flops_per_step"] > 1e11 and full["checkpoint"]["mb"] > 900
        assert rec["per_sample_shape"] == {"satellite": [1, 46], "ninapro": [1, 16, 52]}[task]
