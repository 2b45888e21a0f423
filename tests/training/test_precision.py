"""refine.precision (orca/training/precision.py): fp32 is the plain forward, bf16 autocasts, the flags come back,
and the setting travels in the refine job's settings and hash (not align's) and runs end to end."""
import copy

import numpy as np
import pytest
import torch
import yaml

from orca.model.backbones import load_body, tiny_config
from orca.spec.tasks import SCHEMA_PATH, TaskError, load_task
from orca.training.precision import PRECISIONS, precision_context
from tests.stage_jobs import job_for, job_hash, run_refine, task_settings

IRIS = "benchmarks/offline/iris.yaml"
CPU = torch.device("cpu")


def _tiny_loss(precision: str, name: str = "roberta-base"):
    """(loss, gradients) of a mean-squared loss through a tiny random body (dropout 0) at ``precision``."""
    body = load_body(name, pretrained=False, config_overrides=tiny_config(name), dropout=0.0)
    body.train()
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randn(4, 16, body.width, generator=gen)
    target = torch.randn(4, body.out_width, generator=gen)
    with precision_context(precision, CPU):
        hidden, _ = body(tokens, None)
        loss = ((hidden.float().mean(1) - target) ** 2).mean()
    loss.backward()  # outside the context, as refine does
    return loss.detach(), {k: p.grad for k, p in body.named_parameters() if p.grad is not None}


def test_the_schema_offers_exactly_the_precisions_the_module_knows():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    assert tuple(schema["properties"]["refine"]["properties"]["precision"]["enum"]) == PRECISIONS


@pytest.mark.parametrize("precision", ["fp32", "tf32"])  # tf32 on CPU is a no-op: it runs as fp32
def test_fp32_and_cpu_tf32_are_the_plain_forward_bit_for_bit(tiny_text_body, precision):
    tokens = torch.randn(3, 8, tiny_text_body.width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain, _ = tiny_text_body(tokens)
        with precision_context(precision, CPU):
            inside, _ = tiny_text_body(tokens)
    assert inside.dtype == torch.float32 and torch.equal(plain, inside)


def test_bf16_moves_the_loss_a_little_and_keeps_it_finite():
    """Measured on CPU (tiny RoBERTa, 2 layers, width 32): |loss_bf16 - loss_fp32| = 3.5e-6 on a loss of 1.27,
    largest gradient difference 1.3e-4; the tolerance leaves room for other CPUs' bf16 kernels."""
    fp32, g32 = _tiny_loss("fp32")
    bf16, g16 = _tiny_loss("bf16")
    diff = abs(bf16 - fp32).item()
    assert torch.isfinite(bf16) and bf16.dtype == torch.float32
    assert 0 < diff < 1e-2 * fp32.item(), f"bf16 vs fp32 loss differs by {diff:.3g} (loss {fp32.item():.6g})"
    assert g16.keys() == g32.keys() and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in g16.values())
    assert any(not torch.equal(g16[k], g32[k]) for k in g32)  # the backward saw bf16 activations


def _flags():
    return (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32)


def test_each_context_sets_its_flags_inside_and_restores_them_after():
    before = _flags()
    with precision_context("tf32", torch.device("cuda")):  # the flags exist without a GPU
        assert _flags() == ("high", True, True)
    assert _flags() == before
    with precision_context("fp32", "cuda"):
        assert _flags() == ("highest", False, False)  # TF32 off for matmuls and cuDNN convolutions alike
    assert _flags() == before
    with precision_context("tf32", CPU):  # CPU: as fp32
        assert _flags() == ("highest", False, False)
    with precision_context("bf16", CPU):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu") and _flags() == before


def test_an_unknown_precision_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"allowed: fp32, tf32, bf16 \(set refine\.precision in the task file"):
        precision_context("fp16", CPU)
    with pytest.raises(TaskError, match=r"refine\.precision"):
        load_task(IRIS, {"refine": {"precision": "fp16"}})


def test_precision_is_in_the_refine_settings_and_hash_only():
    plain, bf16 = load_task(IRIS), load_task(IRIS, {"refine": {"precision": "bf16"}})
    assert task_settings(plain, "refine")["refine"]["precision"] == "fp32"  # the default is written out
    assert job_for(bf16, "refine", "roberta-base", "none").task.refine.precision == "bf16"
    assert job_hash(bf16, "refine") != job_hash(plain, "refine")
    assert job_hash(bf16, "align") == job_hash(plain, "align")  # align never runs the body's forward
    assert "precision" not in task_settings(bf16, "align").get("align", {})


def test_a_bf16_refine_runs_end_to_end(tmp_path, tiny_text_body):
    from orca.data import fetch

    runs = {}
    for precision in ("bf16", "fp32"):
        task = load_task(IRIS, {"refine": {"epochs": 2, "batch_size": 32, "precision": precision}})
        fetch(task.data.loader, task.data.args, tmp_path / "data")
        runs[precision] = run_refine(task, "roberta-base", "none", 0, tmp_path / f"{precision}.json",
                                     tmp_path / "data", body=copy.deepcopy(tiny_text_body), log=lambda *_: None)
    rec = runs["bf16"]
    assert rec["settings"]["task"]["refine"]["precision"] == "bf16"
    assert len(rec["history"]) == 2 and all(np.isfinite(h["train_loss"]) for h in rec["history"])
    assert np.isfinite(rec["scores"]["test_at_best_val"])
    # the setting reached the training loop: the same seed and body train to other losses at fp32
    assert rec["history"][0]["train_loss"] != runs["fp32"]["history"][0]["train_loss"]
