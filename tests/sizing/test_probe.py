"""orca.sizing.probe through `orca size`: one unit measured at its real shapes with the real MiniLM-L6
architecture (random weights through from_pretrained of a local folder), and the arithmetic of the scaling."""
from __future__ import annotations

import json

import pytest

from orca.sizing.probe import at_batch, micro_points

from .conftest import orca, sizing_config


def test_micro_points_measure_the_real_batch_when_allowed_else_two_smaller_ones():
    assert micro_points(4, [1, 4]) == [4]
    assert micro_points(16, [1, 4]) == [1, 4]
    assert micro_points(16, [8]) == [4, 8]
    assert micro_points(16, [1]) == [1, 2]
    with pytest.raises(ValueError, match="at least one"):
        micro_points(16, [])


def test_at_batch_extrapolates_linearly_through_the_two_largest_points():
    measured = [{"micro_batch": 1, "fwd_bwd_s": 1.0, "optimizer_s": 0.5, "peak_rss_mb": 1000.0, "peak_gpu_mb": None},
                {"micro_batch": 4, "fwd_bwd_s": 2.5, "optimizer_s": 0.4, "peak_rss_mb": 1600.0, "peak_gpu_mb": None}]
    est = at_batch(measured, 16, 2)
    assert est["scaled_from"] == [1, 4]
    assert est["fwd_bwd_s"] == pytest.approx(2.5 + 0.5 * 12)
    assert est["peak_rss_mb"] == pytest.approx(1600 + 200 * 12)
    assert est["step_s"] == pytest.approx(2 * est["fwd_bwd_s"] + 0.4)  # accum micro-batches, one optimizer step
    assert at_batch(measured, 4, 1)["scaled_from"] is None  # measured at the real batch


def test_a_unit_is_measured_at_real_shapes_with_the_real_loading_path(tmp_path):
    tables = {"t": {"title": "t", "tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["none", "l2"],
                    "controls": ["frozen-body"], "seeds": [0]}}
    cfg = sizing_config(tmp_path, tables, {"direct_below_mb": 0})  # never measure the real batch: scale
    out = tmp_path / "sizing"
    done = orca("size", "--configfile", cfg, "--sizing-dir", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[1/1] iris--minilm-l6: refine full fp32:" in done.stdout
    rec = json.loads((out / "iris--minilm-l6--cpu.json").read_text())
    assert rec["kind"] == "sizing" and rec["mark"].startswith("SIZING")
    assert rec["per_sample_shape"] == [1, 4] and "random values of the real shape [1, 4]" in rec["inputs"]
    assert (tmp_path / "cache" / "sizing" / "bodies" / "minilm-l6" / "config.json").is_file()
    full, frozen = rec["refine"]["full"], rec["refine"]["frozen"]
    # the real 6-layer, 384-wide encoder (10.6 M; the word embeddings are not in the trained graph: the embedder
    # replaces them)
    assert full["trainable_parameters"] == full["parameters"] > 10_000_000
    assert frozen["trainable_parameters"] < full["parameters"] / 10
    win = full["precisions"]["fp32"]
    assert [w["micro_batch"] for w in win["measured"]] == [1, 2] and win["at_batch"]["scaled_from"] == [1, 2]
    assert all(w["rss_window"] == "since reset" for w in win["measured"])
    # the checkpoint holds weights and both Adam moments: at least three float32 copies of the trainable weights
    assert full["checkpoint"]["mb"] * 2**20 > 3 * 4 * full["trainable_parameters"] * 0.95
    assert frozen["checkpoint"]["mb"] < full["checkpoint"]["mb"]
    assert full["flops_per_step"] > 0 and full["eval_s_per_sample"] > 0
    (align,) = rec["align"]
    assert align["method"] == "l2" and align["classes"] == 3 and align["epoch_s"] >= align["class_step_s"]
    assert rec["sources"]["width"] == 384
    again = orca("size", "--configfile", cfg, "--sizing-dir", str(out))
    assert again.returncode == 0 and "up to date" in again.stdout


def test_flops_of_a_micro_batch_are_linear_in_its_size():
    """What scaling the counted FLOPs to the real batch relies on, checked on a full-size MiniLM-L6 model."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from orca.model.backbones import load_body
    from orca.model.network import build_model
    from orca.spec.tasks import load_task

    task = load_task("benchmarks/offline/ecg5000.yaml")
    body = load_body("minilm-l6", pretrained=False)
    model = build_model(body, "1d", (1, 140), task.embedder, "classification", (5,))

    def flops(m: int) -> int:
        counter = FlopCounterMode(display=False)
        with counter:
            model(torch.randn(m, 1, 140)).sum().backward()
        return counter.get_total_flops()

    assert flops(3) == 3 * flops(1)


def test_bad_input_names_the_cause(tmp_path):
    done = orca("size", "--only", "nope--minilm-l6")
    assert done.returncode == 2 and "unknown unit(s) nope--minilm-l6; `orca size --list` names them" in done.stderr
    listed = orca("size", "--list")
    assert listed.returncode == 0 and "6 units" in listed.stdout
