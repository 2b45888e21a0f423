import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from orca.model.embedders import Embedder1D, build_embedder, stack_number
from orca.spec.tasks import EmbedderSpec


@pytest.mark.parametrize("length,target,expected", [(140, 8, 20), (140, 16, 10), (4, 8, 1), (13, 8, 13), (30, 8, 5)])
def test_stack_number_is_smallest_fitting_divisor(length, target, expected):
    s = stack_number(length, target)
    assert s == expected and length % s == 0 and length // s <= target


def test_embedder1d_shapes_and_init_from_body(tiny_text_body):
    emb = build_embedder("1d", (3, 140), tiny_text_body.embedding_init(), EmbedderSpec(target_seq_len=16, patch_size=4))
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
    a = build_embedder("1d", (1, 30), tiny_text_body.embedding_init(), EmbedderSpec(target_seq_len=8, patch_size=4))
    b = build_embedder("1d", (1, 30), EmbeddingInit.load(tmp_path / "e.pt"), EmbedderSpec(target_seq_len=8, patch_size=4))
    assert torch.equal(a.position_embeddings.weight, b.position_embeddings.weight)
    assert torch.equal(a.norm.weight, b.norm.weight)


def test_embedder1d_normalises_before_adding_positions(tiny_text_body):
    """The original's order: LayerNorm(Conv1d(x)) + positions (not LayerNorm(Conv1d(x) + positions))."""
    emb = build_embedder("1d", (1, 30), tiny_text_body.embedding_init(), EmbedderSpec(target_seq_len=8, patch_size=4))
    x = torch.randn(4, 1, 30)
    tokens, _ = emb(x)
    conv = emb.projection(x).transpose(1, 2)
    expected = F.layer_norm(conv, conv.shape[-1:], emb.norm.weight, emb.norm.bias, emb.norm.eps)
    assert torch.allclose(tokens, expected + emb.position_embeddings.weight, atol=1e-6)
    # a zero input projects to the zero bias, which LayerNorm maps to its bias: the tokens are bias + positions
    zero, _ = emb(torch.zeros(1, 1, 30))
    assert torch.allclose(zero[0], emb.norm.bias + emb.position_embeddings.weight, atol=1e-6)


def _xavier_bound(weight: torch.Tensor, gain: float) -> float:
    receptive = weight[0, 0].numel()
    fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


def test_projection_starts_xavier_uniform_gain_sqrt2_with_zero_bias():
    """src/utils.py conv_init: xavier_uniform_(gain=sqrt(2)), bias 0 (torch's default would be ~2.3x wider here)."""
    torch.manual_seed(0)
    emb = Embedder1D(4, 64, 256, target_seq_len=16)  # stack 4: weight (256, 4, 4)
    bound = _xavier_bound(emb.projection.weight, math.sqrt(2))
    w = emb.projection.weight.detach()
    assert w.abs().max() <= bound and w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert torch.count_nonzero(emb.projection.bias) == 0


def test_1d_embedder_without_transfer_keeps_unit_layernorm_but_copies_positions(tiny_text_body):
    """No alignment (the original's embedder_init with train_embedder=False): LayerNorm 1/0, positions copied."""
    init = tiny_text_body.embedding_init()
    init.layernorm = {"weight": torch.full_like(init.layernorm["weight"], 2.0), "bias": init.layernorm["bias"] + 0.5}
    emb = build_embedder("1d", (1, 30), init, EmbedderSpec(target_seq_len=8, patch_size=4), transfer=False)
    assert torch.equal(emb.norm.weight, torch.ones_like(emb.norm.weight)) and not emb.norm.bias.any()
    assert torch.equal(emb.position_embeddings.weight, init.positions[:6])
    aligned = build_embedder("1d", (1, 30), init, EmbedderSpec(target_seq_len=8, patch_size=4), transfer=True)
    assert torch.equal(aligned.norm.weight, init.layernorm["weight"])


def test_2d_embedder_on_swin_without_transfer_is_trunc_normal(tiny_image_body):
    """No alignment: the Conv2d projection is redrawn trunc-normal(std 0.02), bias 0, LayerNorm 1/0."""
    torch.manual_seed(0)
    emb = build_embedder("2d", (64, 20, 20), tiny_image_body.embedding_init(), EmbedderSpec(target_seq_len=64, patch_size=4, image_size=56),
                         transfer=False)
    w = emb.projection.weight.detach()  # (16, 64, 4, 4): 16,384 draws
    assert w.std().item() == pytest.approx(0.02, rel=0.05) and not emb.projection.bias.any()
    assert torch.equal(emb.norm.weight, torch.ones_like(emb.norm.weight))


def test_embedder1d_rejects_too_many_tokens():
    with pytest.raises(ValueError, match="target_seq_len"):
        Embedder1D(1, 1000, 8, target_seq_len=1000, max_positions=512)


def test_embedder2d_tiles_swin_patch_weights(tiny_image_body):
    emb = build_embedder("2d", (5, 20, 20), tiny_image_body.embedding_init(), EmbedderSpec(target_seq_len=64, patch_size=4, image_size=56))
    w = tiny_image_body.patch_weight  # (D, 3, 4, 4)
    assert torch.equal(emb.projection.weight[:, :3], w) and torch.equal(emb.projection.weight[:, 3:5], w[:, :2])
    tokens, grid = emb(torch.randn(2, 5, 20, 20))  # resized to 56 x 56 -> 14 x 14 patches
    assert grid == (14, 14) and tokens.shape == (2, 196, tiny_image_body.width)


def test_embedder2d_on_text_body_uses_positions(tiny_text_body):
    emb = build_embedder("2d", (1, 8, 8), tiny_text_body.embedding_init(), EmbedderSpec(target_seq_len=64, patch_size=4))
    tokens, grid = emb(torch.randn(3, 1, 8, 8))
    assert grid == (2, 2) and tokens.shape == (3, 4, tiny_text_body.width)
    assert emb.position_embeddings is not None


def test_wrong_modality_shape_is_a_clear_error(tiny_text_body):
    with pytest.raises(ValueError, match=r"\(C, L\)"):
        build_embedder("1d", (1, 8, 8), tiny_text_body.embedding_init(), EmbedderSpec(target_seq_len=8, patch_size=4))


def test_embedder2d_on_text_body_normalises_then_adds_positions(tiny_text_body):
    emb = build_embedder("2d", (1, 8, 8), tiny_text_body.embedding_init(), EmbedderSpec(target_seq_len=64, patch_size=4))
    zero, _ = emb(torch.zeros(1, 1, 8, 8))
    assert torch.allclose(zero[0], emb.norm.bias + emb.position_embeddings.weight, atol=1e-6)


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# the original's 1D rows: (its config's target_seq_len, the length its get_config declares); the stack number
# comes from those and is applied to the data, whose length is our task file's input.shape
ORIGINAL_1D = {"pdebench/pde-burgers": (128, 256), "pdebench/pde-advection": (512, 256),
               "pdebench/pde-cfd1d": (128, 3072), "pdebench/pde-diffreact1d": (256, 1024),
               "pdebench/pde-diffsorp": (32, 1024), "nb360/ecg": (64, 1000), "nb360/deepsea": (512, 1000),
               "nb360/satellite": (512, 46)}


@pytest.mark.parametrize("row", sorted(ORIGINAL_1D))
def test_1d_rows_have_the_originals_token_count(row, tiny_text_body):
    from orca.spec.tasks import load_task

    task = load_task(BENCHMARKS / f"{row}.yaml")
    target_seq_len, declared = ORIGINAL_1D[row]
    shape = task.input.shape
    expected = shape[1] // stack_number(declared, target_seq_len)
    emb = Embedder1D(shape[0], shape[1], 8, task.embedder.target_seq_len, max_positions=512)
    assert emb.num_tokens == expected


def test_burgers_embeds_its_1024_cells_into_512_tokens():
    from orca.spec.tasks import load_task

    task = load_task(BENCHMARKS / "pdebench" / "pde-burgers.yaml")
    emb = Embedder1D(1, 1024, 8, task.embedder.target_seq_len, max_positions=512)  # RoBERTa: 514 - 2
    assert (emb.num_tokens, emb.stack) == (512, 2)


@pytest.mark.parametrize("name", ["roberta-base", "bert-base-uncased", "minilm-l6"])
def test_text_bodies_position_ids_start_at_2(name):
    """The original's position ids are padding_idx + 1 = 2 ... T + 1 for every text body, BERT included."""
    from orca.model.backbones import load_body, tiny_config

    body = load_body(name, pretrained=False, config_overrides=tiny_config(name))
    emb = build_embedder("1d", (1, 30), body.embedding_init(), EmbedderSpec(target_seq_len=8, patch_size=4))
    assert torch.equal(emb.position_embeddings.weight, body.input_embeddings.position_embeddings.weight[2:8])
