import pytest
import torch

from orca.model.embedders import Embedder1D, build_embedder, stack_number


@pytest.mark.parametrize("length,target,expected", [(140, 8, 20), (140, 16, 10), (4, 8, 1), (13, 8, 13), (30, 8, 5)])
def test_stack_number_is_smallest_fitting_divisor(length, target, expected):
    s = stack_number(length, target)
    assert s == expected and length % s == 0 and length // s <= target


def test_embedder1d_shapes_and_init_from_body(tiny_text_body):
    emb = build_embedder("1d", (3, 140), tiny_text_body.embedding_init(), {"target_seq_len": 16})
    tokens, grid = emb(torch.randn(5, 3, 140))
    assert tokens.shape == (5, 14, tiny_text_body.width) and grid is None
    src = tiny_text_body.input_embeddings
    off = tiny_text_body.spec.position_offset  # RoBERTa positions start at padding_idx + 1
    assert torch.equal(emb.position_embeddings.weight, src.position_embeddings.weight[off: off + 14])
    assert torch.equal(emb.norm.weight, src.LayerNorm.weight) and torch.equal(emb.norm.bias, src.LayerNorm.bias)
    # the copies are independent parameters: training the embedder leaves the body untouched
    assert emb.norm.weight.data_ptr() != src.LayerNorm.weight.data_ptr()


def test_embedding_init_round_trips_through_a_file(tiny_text_body, tmp_path):
    from orca.model.backbones import EmbeddingInit

    tiny_text_body.embedding_init().save(tmp_path / "e.pt")
    a = build_embedder("1d", (1, 30), tiny_text_body.embedding_init(), {"target_seq_len": 8})
    b = build_embedder("1d", (1, 30), EmbeddingInit.load(tmp_path / "e.pt"), {"target_seq_len": 8})
    assert torch.equal(a.position_embeddings.weight, b.position_embeddings.weight)
    assert torch.equal(a.norm.weight, b.norm.weight)


def test_embedder1d_output_is_layer_normalised(tiny_text_body):
    emb = build_embedder("1d", (1, 30), tiny_text_body.embedding_init(), {"target_seq_len": 8})
    torch.nn.init.ones_(emb.norm.weight), torch.nn.init.zeros_(emb.norm.bias)
    tokens, _ = emb(torch.randn(4, 1, 30))
    assert torch.allclose(tokens.mean(-1), torch.zeros(4, 6), atol=1e-5)


def test_embedder1d_rejects_too_many_tokens():
    with pytest.raises(ValueError, match="target_seq_len"):
        Embedder1D(1, 1000, 8, target_seq_len=1000, max_positions=512)


def test_embedder2d_tiles_swin_patch_weights(tiny_image_body):
    emb = build_embedder("2d", (5, 20, 20), tiny_image_body.embedding_init(), {"patch_size": 4, "image_size": 56})
    w = tiny_image_body.patch_weight  # (D, 3, 4, 4)
    assert torch.equal(emb.projection.weight[:, :3], w) and torch.equal(emb.projection.weight[:, 3:5], w[:, :2])
    tokens, grid = emb(torch.randn(2, 5, 20, 20))  # resized to 56 x 56 -> 14 x 14 patches
    assert grid == (14, 14) and tokens.shape == (2, 196, tiny_image_body.width)


def test_embedder2d_on_text_body_uses_positions(tiny_text_body):
    emb = build_embedder("2d", (1, 8, 8), tiny_text_body.embedding_init(), {"patch_size": 4, "image_size": None})
    tokens, grid = emb(torch.randn(3, 1, 8, 8))
    assert grid == (2, 2) and tokens.shape == (3, 4, tiny_text_body.width)
    assert emb.position_embeddings is not None


def test_wrong_modality_shape_is_a_clear_error(tiny_text_body):
    with pytest.raises(ValueError, match=r"\(C, L\)"):
        build_embedder("1d", (1, 8, 8), tiny_text_body.embedding_init(), {"target_seq_len": 8})
