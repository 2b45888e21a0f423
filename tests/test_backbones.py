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


def _loss_and_grads(name: str, attention: str):
    """Loss and gradients of a tiny random body, training mode without randomness (dropout 0: sdpa and eager draw
    other dropout masks; Swin's stochastic depth off: its draws would differ between the two runs)."""
    overrides = {**tiny_config(name), **({"drop_path_rate": 0.0} if "swin" in name else {})}
    body = load_body(name, pretrained=False, config_overrides=overrides, dropout=0.0, attention=attention)
    body.train()
    gen = torch.Generator().manual_seed(3)
    text = body.family == "text"
    tokens = torch.randn(4, 16 if text else 14 * 14, body.width, generator=gen)
    hidden, _ = body(tokens, None if text else (14, 14))
    loss = ((hidden.mean(1) - torch.randn(4, body.out_width, generator=gen)) ** 2).mean()
    loss.backward()
    return loss.detach(), {k: p.grad for k, p in body.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", ["roberta-base", "swin-base"])
def test_eager_and_sdpa_attention_give_the_same_loss_and_gradients(name):
    """The same function, rounded differently. Measured on CPU (float32, tiny bodies): RoBERTa loss identical,
    largest gradient difference 7.5e-9 (gradients up to 0.11); Swin identical. Tolerance: 1e-6 absolute."""
    eager, g_eager = _loss_and_grads(name, "eager")
    sdpa, g_sdpa = _loss_and_grads(name, "sdpa")
    assert g_eager.keys() == g_sdpa.keys() and len(g_eager) > 10
    worst = max((g_eager[k] - g_sdpa[k]).abs().max().item() for k in g_eager)
    loss_diff = abs(eager - sdpa).item()
    assert loss_diff <= 1e-6 and worst <= 1e-6, f"{name}: eager vs sdpa loss {loss_diff:.3g}, gradient {worst:.3g}"


@pytest.mark.parametrize("name", ["roberta-base", "swin-base"])
def test_attention_defaults_to_eager_the_released_codes_path(name):
    body = load_body(name, pretrained=False, config_overrides=tiny_config(name))
    assert body.attention == "eager" == body.config._attn_implementation  # transformers itself would pick sdpa
    sdpa = load_body(name, pretrained=False, config_overrides=tiny_config(name), attention="sdpa")
    assert sdpa.attention == "sdpa" == sdpa.config._attn_implementation


def test_pretrained_body_gets_the_asked_attention():
    assert load_body("minilm-l6").attention == "eager" and load_body("minilm-l6", attention="sdpa").attention == "sdpa"


def test_unknown_attention_names_the_setting():
    with pytest.raises(ValueError, match=r"allowed: eager, sdpa \(set body\.attention"):
        load_body("roberta-base", pretrained=False, config_overrides=tiny_config("roberta-base"), attention="flash")


def test_sdpa_on_a_model_type_without_it_names_the_backbone_and_the_fix(monkeypatch):
    from transformers import MODEL_MAPPING, AutoConfig

    model_class = MODEL_MAPPING[type(AutoConfig.for_model("swin"))]
    monkeypatch.setattr(model_class, "_supports_sdpa", False)  # as in a transformers without Swin's sdpa
    with pytest.raises(ValueError, match=r"'swin-base' \(swin\) has no sdpa .*set body\.attention: eager"):
        load_body("swin-base", pretrained=False, config_overrides=tiny_config("swin-base"), attention="sdpa")
    assert load_body("swin-base", pretrained=False, config_overrides=tiny_config("swin-base")).attention == "eager"


def test_attention_is_in_the_refine_settings_and_hash_only():
    from orca.spec.tasks import load_task
    from tests.stage_jobs import job_hash, task_settings

    plain = load_task("benchmarks/offline/iris.yaml")
    sdpa = load_task("benchmarks/offline/iris.yaml", {"body": {"attention": "sdpa"}})
    assert task_settings(plain, "refine")["body"]["attention"] == "eager"  # the default is written out
    assert job_hash(sdpa, "refine") != job_hash(plain, "refine")
    assert job_hash(sdpa, "align") == job_hash(plain, "align")  # align uses the input embeddings, never attention
