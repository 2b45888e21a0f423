"""Evaluation protocols as data, the one hook through which a protocol picks the align solver, and the grid
that carries the protocol in its paths."""
import pytest
import yaml

from orca.spec import protocols
from orca.spec.protocols import PROTOCOLS, align_solver, get_protocol, selected_score


def test_original_protocol_is_the_released_codes_and_clean_is_todays():
    orig, clean = PROTOCOLS["original"], PROTOCOLS["clean"]
    # ORCA main.py with valid_split False: no validation carve, val_loader = test_loader, test-selected best
    assert (orig.validation_split, orig.select_on, orig.chunked_metric) == (False, "test", True)
    assert (orig.metric_variant, orig.align_solver) == ("original", "original")
    assert selected_score("original") == "test_best_epoch_original"
    assert (clean.validation_split, clean.select_on, clean.chunked_metric) == (True, "val", False)
    assert (clean.metric_variant, clean.align_solver) == ("clean", "converged")
    assert selected_score("clean") == "test_at_best_val"
    with pytest.raises(ValueError, match="unknown evaluation protocol 'test-tuned'; allowed: original, clean"):
        get_protocol("test-tuned")


def test_the_protocol_picks_the_align_solver_and_a_task_files_solver_wins():
    assert align_solver("clean") == "converged" and align_solver("original") == "original"
    assert align_solver("clean", "original") == "original" and align_solver("original", "converged") == "converged"


def test_protocols_is_a_leaf_module():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(protocols.__file__).read_text())
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level] + \
               [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names if a.name.startswith("orca")]
    assert imported == []


def test_default_protocol_is_clean():
    assert protocols.DEFAULT_PROTOCOL == "clean"


def _config(**table_extra):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    cfg["benchmarks"] = [str(repo / "benchmarks")]
    cfg["tables"] = {"t": {"tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["none", "l2"], "seeds": [0],
                           **table_extra}}
    cfg["targets"] = ["t"]
    return cfg


def test_the_grid_plans_every_protocols_paths():
    from orca.plan.grid import Grid

    both = Grid({**_config(), "protocols": ["original", "clean"]}).table_runs("t", "results")
    assert both == [f"results/runs/iris/minilm-l6/{al}/{pr}/seed0.json"
                    for al in ("none", "l2") for pr in ("original", "clean")]
    # default: clean only; a table's own list wins over the top-level one
    assert Grid(_config()).table_runs("t", "r") == ["r/runs/iris/minilm-l6/none/clean/seed0.json",
                                                     "r/runs/iris/minilm-l6/l2/clean/seed0.json"]
    own = Grid({**_config(protocols=["original"]), "protocols": ["clean"]}).table_runs("t", "r")
    assert all("/original/" in p for p in own)


def test_paper_grid_runs_the_original_protocol_and_the_default_table_the_clean_one():
    from pathlib import Path

    from snakemake.utils import validate

    repo = Path(__file__).resolve().parents[1]
    schema = str(repo / "workflow" / "schemas" / "config.schema.yaml")
    paper = yaml.safe_load((repo / "config" / "paper.yaml").read_text())
    default = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    validate(paper, schema)
    validate(default, schema)
    assert paper["protocols"] == ["original"] and default["protocols"] == ["clean"]
    bad = {**default, "protocols": ["test-tuned"]}
    with pytest.raises(Exception, match="test-tuned"):
        validate(bad, schema)


def test_masked_loss_mean_original_is_all_clean_counted():
    assert PROTOCOLS["original"].masked_loss_mean == "all"  # ORCA: mask(out, z), mask(y, z), mean over all pixels
    assert PROTOCOLS["clean"].masked_loss_mean == "counted"


@pytest.mark.parametrize("protocol,ignore,expected", [
    ("original", {"value": -1}, {"ignore": {"value": -1}, "masked_mean": "all"}),
    ("clean", {"value": -1}, {"ignore": {"value": -1}, "masked_mean": "counted"}),
    ("original", None, {}),
])
def test_refine_passes_the_protocols_masked_loss_mean_to_the_loss(monkeypatch, protocol, ignore, expected):
    from types import SimpleNamespace

    from orca.stages import refine

    seen = []

    class Built(Exception):
        pass

    def fake_make_loss(name, **opts):
        seen.append((name, opts))
        raise Built

    monkeypatch.setattr(refine, "make_loss", fake_make_loss)
    task = SimpleNamespace(refine=None, output=SimpleNamespace(ignore=ignore),
                           loss=SimpleNamespace(name="bce_logits", options=lambda: {}))
    run = SimpleNamespace(data=None, device="cpu")
    with pytest.raises(Built):
        refine._training(task, run, None, 1, 0, None, "label", None, get_protocol(protocol))
    assert seen == [("bce_logits", expected)]
