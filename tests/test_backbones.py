import pytest
import torch

from orca.model.backbones import BACKBONES, get_backbone_spec, load_body, tiny_config


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_offline_with_random_weights(name):
    body = load_body(name, pretrained=False, config_overrides=tiny_config(name))
    tokens = torch.randn(2, 4, body.width) if body.family == "text" else torch.randn(2, 14 * 14, body.width)
    hidden, _ = body(tokens, None if body.family == "text" else (14, 14))
    assert hidden.shape[0] == 2 and hidden.shape[-1] == body.out_width


def test_minilm_loads_real_pretrained_weights_offline():
    body = load_body("minilm-l6")
    assert body.width == 384 == get_backbone_spec("minilm-l6").width
    # pretrained, not random: the word embedding of [CLS] (id 101) is the shipped one, stable across loads
    again = load_body("minilm-l6")
    w = body.input_embeddings.word_embeddings.weight
    assert torch.equal(w, again.input_embeddings.word_embeddings.weight) and w.abs().mean() > 0


def test_unknown_backbone_names_allowed_ones():
    with pytest.raises(ValueError, match="minilm-l6"):
        get_backbone_spec("gpt-7")
