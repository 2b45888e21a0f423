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


def _dropouts(module):
    return {m.p for m in module.modules() if isinstance(m, torch.nn.Dropout)}


@pytest.mark.parametrize("name", ["roberta-base", "swin-base"])
def test_dropout_is_written_into_the_body_config_before_it_is_built(name):
    """The original's drop_out: hidden and attention dropout of the body's own config (RoBERTa/BERT and Swin)."""
    body = load_body(name, pretrained=False, config_overrides=tiny_config(name), dropout=0.3)
    assert body.config.hidden_dropout_prob == 0.3 and body.config.attention_probs_dropout_prob == 0.3
    assert _dropouts(body.encoder) == {0.3}  # every dropout layer the encoder built uses it


def test_pretrained_body_gets_the_dropout_and_keeps_its_weights():
    default, dropped = load_body("minilm-l6"), load_body("minilm-l6", dropout=0.0)
    assert default.config.hidden_dropout_prob == 0.1 and _dropouts(default.encoder) == {0.1}  # its own, kept
    assert dropped.config.hidden_dropout_prob == 0.0 == dropped.config.attention_probs_dropout_prob
    assert _dropouts(dropped.encoder) == {0.0}
    a, b = default.state_dict(), dropped.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_random_body_has_the_pretrained_architecture_and_other_weights():
    """pretrained=False (the original's from_scratch): same parameter names and shapes, random values."""
    pretrained = dict(load_body("minilm-l6").named_parameters())
    random = dict(load_body("minilm-l6", pretrained=False, seed=0).named_parameters())
    assert {k: v.shape for k, v in random.items()} == {k: v.shape for k, v in pretrained.items()}
    weights = [k for k in pretrained if k.endswith("weight") and "LayerNorm" not in k]
    assert weights and not any(torch.equal(random[k], pretrained[k]) for k in weights)


def test_random_body_is_drawn_from_the_seed_only():
    tiny = tiny_config("roberta-base")
    torch.manual_seed(123)
    a = load_body("roberta-base", pretrained=False, config_overrides=tiny, seed=5)
    after_a = torch.rand(1)
    torch.manual_seed(123)
    b = load_body("roberta-base", pretrained=False, config_overrides=tiny, seed=5)
    assert torch.equal(torch.rand(1), after_a)  # the global random stream is left where it was
    c = load_body("roberta-base", pretrained=False, config_overrides=tiny, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    query = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(sa[query], sc[query])


def test_body_dropout_out_of_range_names_the_setting():
    with pytest.raises(ValueError, match="body.dropout"):
        load_body("roberta-base", pretrained=False, config_overrides=tiny_config("roberta-base"), dropout=1.5)
