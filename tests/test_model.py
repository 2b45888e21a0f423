import pytest
import torch
import torch.nn.functional as F

from orca.model.heads import MaskedImageHead, TokenPoolHead, build_head
from orca.model.network import build_model
from orca.spec.tasks import EmbedderSpec


def test_classifier_end_to_end_shapes_and_gradients(tiny_text_body):
    model = build_model(tiny_text_body, "1d", (1, 30), EmbedderSpec(target_seq_len=8, patch_size=4), "classification", (3,))
    out = model(torch.randn(4, 1, 30))
    assert out.shape == (4, 3)
    out.sum().backward()
    assert model.embedder.projection.weight.grad is not None
    assert any(p.grad is not None for p in model.body.parameters())


def test_pooled_head_is_mean_then_linear_without_dropout(tiny_text_body):
    """The original: the body's average pooler, then a bare Linear (drop_out goes into the body config)."""
    model = build_model(tiny_text_body, "1d", (1, 30), EmbedderSpec(target_seq_len=8, patch_size=4), "classification", (3,))
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.head.modules())
    hidden = torch.randn(2, 6, tiny_text_body.out_width)
    model.head.train()
    assert torch.equal(model.head(hidden), model.head.linear(hidden.mean(1)))


def test_1d_dense_head_has_no_parameters_and_pools_hidden_units_per_token(tiny_text_body):
    model = build_model(tiny_text_body, "1d", (1, 32), EmbedderSpec(target_seq_len=8, patch_size=4), "dense", (1, 32))  # 8 tokens x 4
    assert isinstance(model.head, TokenPoolHead) and sum(p.numel() for p in model.head.parameters()) == 0
    assert model(torch.randn(3, 1, 32)).shape == (3, 1, 32)
    hidden = torch.randn(3, 8, 32)  # D = 32 hidden units -> 4 groups of 8, one per position of the token
    out = model.head(hidden)
    for t, j in [(0, 0), (0, 3), (5, 2), (7, 3)]:
        assert torch.allclose(out[:, 0, 4 * t + j], hidden[:, t, 8 * j: 8 * j + 8].mean(-1))


def test_1d_dense_head_keeps_each_channel_contiguous():
    hidden = torch.randn(2, 5, 12)  # K = 2 channels x stack 3 = 6 groups of 2 units
    out = TokenPoolHead((2, 15), stack=3)(hidden)
    assert out.shape == (2, 2, 15)
    assert torch.allclose(out[:, 1, 3 * 4 + 2], hidden[:, 4, 2 * (3 + 2): 2 * (3 + 2) + 2].mean(-1))


def test_1d_dense_targets_must_cover_the_input_positions(tiny_text_body):
    with pytest.raises(ValueError, match="input and target lengths"):
        build_model(tiny_text_body, "1d", (1, 32), EmbedderSpec(target_seq_len=8, patch_size=4), "dense", (1, 40))


@pytest.mark.parametrize("in_shape,target", [
    ((3, 85, 85), (1, 85, 85)),      # Darcy flow (NAS-Bench-360)
    ((57, 64, 64), (1, 512, 512)),   # PSICOV's 512 x 512 distance map (fewer input pixels to stay small)
    ((1, 128, 128), (1, 128, 128)),  # Cosmic
    ((4, 64, 64), (4, 64, 64)),      # PDEBench 2D CFD: 4 output channels
])
def test_2d_dense_head_gives_the_target_shape(tiny_image_body, in_shape, target):
    model = build_model(tiny_image_body, "2d", in_shape, EmbedderSpec(target_seq_len=64, patch_size=4, image_size=56), "dense", target)
    assert isinstance(model.head, MaskedImageHead)
    assert model(torch.randn(1, *in_shape)).shape == (1, *target)


def test_2d_dense_head_is_swins_masked_image_decoder_then_pooling(tiny_image_body):
    """1x1 conv to stride^2 x 3 channels, PixelShuffle to the embedder's image size, 3 channels pooled to K,
    adaptive average pooling to the target's size. Tiny Swin: 56 px, patch 4, one downsampling -> stride 8."""
    model = build_model(tiny_image_body, "2d", (1, 20, 20), EmbedderSpec(target_seq_len=64, patch_size=4, image_size=56), "dense", (1, 20, 20))
    conv, shuffle = model.head.decoder
    assert conv.kernel_size == (1, 1) and conv.out_channels == 8 * 8 * 3 and shuffle.upscale_factor == 8
    hidden = torch.randn(2, 7 * 7, tiny_image_body.out_width)
    image = shuffle(conv(hidden.transpose(1, 2).reshape(2, -1, 7, 7)))
    assert image.shape == (2, 3, 56, 56)
    expected = F.adaptive_avg_pool2d(image.mean(1, keepdim=True), (20, 20))
    assert torch.allclose(model.head(hidden, (7, 7)), expected, atol=1e-6)


def test_2d_dense_output_on_a_text_body(tiny_text_body):
    """No body downsampling: each token decodes back to its own patch (patch 4 -> stride 4)."""
    model = build_model(tiny_text_body, "2d", (1, 8, 8), EmbedderSpec(target_seq_len=64, patch_size=4), "dense", (1, 8, 8))
    assert model.head.decoder[1].upscale_factor == 4
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 1, 8, 8)


def test_unknown_head_kind():
    with pytest.raises(ValueError, match="allowed"):
        build_head("segmentation", 8, (2,))
