import pytest
import torch

from orca.model.heads import DenseHead, build_head
from orca.model.network import build_model


def test_classifier_end_to_end_shapes_and_gradients(tiny_text_body):
    model = build_model(tiny_text_body, "1d", (1, 30), {"target_seq_len": 8}, "classification", (3,))
    out = model(torch.randn(4, 1, 30))
    assert out.shape == (4, 3)
    out.sum().backward()
    assert model.embedder.projection.weight.grad is not None
    assert any(p.grad is not None for p in model.body.parameters())


def test_swin_model_dense_output_matches_target_shape(tiny_image_body):
    model = build_model(tiny_image_body, "2d", (2, 28, 28), {"patch_size": 4, "image_size": 56}, "dense", (1, 28, 28))
    assert model(torch.randn(2, 2, 28, 28)).shape == (2, 1, 28, 28)


def test_dense_head_1d():
    head = DenseHead(16, (2, 140), num_tokens_hint=7)
    assert head(torch.randn(3, 7, 16)).shape == (3, 2, 140)


def test_unknown_head_kind():
    with pytest.raises(ValueError, match="allowed"):
        build_head("segmentation", 8, (2,), 4)
