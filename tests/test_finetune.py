"""orca/model/finetune.py: which body weights train (refine.finetune), LoRA through peft."""
import copy

import pytest
import torch

from orca.model.finetune import apply_finetune, lora_targets
from orca.spec.tasks import TaskError, load_task


def _trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_lora_trainable_parameters_are_what_peft_reports(tiny_text_body):
    from peft import LoraConfig, get_peft_model

    ours = copy.deepcopy(tiny_text_body)
    info = apply_finetune(ours, "lora", {"rank": 4, "alpha": 8, "dropout": 0.1, "target_modules": None})
    theirs = get_peft_model(copy.deepcopy(tiny_text_body.encoder),
                            LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=["query", "value"]))
    trainable, _ = theirs.get_nb_trainable_parameters()
    assert info["body_trainable_parameters"] == _trainable(ours) == trainable > 0


def test_lora_starts_as_the_body_it_adapts(tiny_text_body):
    """LoRA's B matrices start at zero: before training the adapted body computes what the plain one does."""
    plain, adapted = copy.deepcopy(tiny_text_body), copy.deepcopy(tiny_text_body)
    apply_finetune(adapted, "lora", {"rank": 2, "alpha": 4, "dropout": 0.0, "target_modules": None})
    tokens = torch.randn(2, 5, plain.width)
    torch.testing.assert_close(adapted(tokens)[0], plain(tokens)[0])


def test_lora_on_swin_adapts_its_query_and_value_projections(tiny_image_body):
    body = copy.deepcopy(tiny_image_body)
    info = apply_finetune(body, "lora", None)
    assert set(info["lora"]["target_modules"]) <= {"q_proj", "v_proj", "query", "value"}
    assert info["lora"]["target_modules"] and all("lora_" in n for n, p in body.named_parameters() if p.requires_grad)


def test_unknown_lora_target_names_the_setting_and_the_layers_there_are(tiny_text_body):
    with pytest.raises(ValueError, match=r"refine.lora.target_modules: \['qkv'\] not among the body's Linear layers"):
        lora_targets(tiny_text_body.encoder, ["qkv"])


def test_full_and_frozen(tiny_text_body):
    full = copy.deepcopy(tiny_text_body)
    assert apply_finetune(full, "full")["body_trainable_parameters"] == _trainable(tiny_text_body)
    frozen = copy.deepcopy(tiny_text_body)
    n = apply_finetune(frozen, "frozen")["body_trainable_parameters"]
    assert 0 < n < _trainable(tiny_text_body)
    with pytest.raises(ValueError, match="unknown refine.finetune 'half'"):
        apply_finetune(copy.deepcopy(tiny_text_body), "half")


def test_task_files_refuse_an_unknown_fine_tuning(tmp_path):
    with pytest.raises(TaskError, match="finetune"):
        load_task("benchmarks/offline/iris.yaml", {"refine": {"finetune": "partial"}})
    with pytest.raises(TaskError, match="rank"):
        load_task("benchmarks/offline/iris.yaml", {"refine": {"lora": {"rank": 0}}})
