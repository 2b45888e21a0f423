"""The embedder-epochs axis (a table's align_epochs): one align run saves its embedder after those epochs, and
each <aligner>-e<k> method refines from the snapshot; the snapshot is the embedder a run of k epochs ends with."""
from pathlib import Path

import pytest
import torch
import yaml

from orca.align.catalog import epoch_variant
from orca.plan.grid import ConfigError, Grid, network_methods
from orca.spec.jobs import resolve_job
from orca.spec.tasks import load_task
from orca.stages import align as align_mod
from orca.stages.common import JobIO

OVERRIDES = {"align": {"epochs": 3, "maxsamples": 16, "lr": 0.05}, "refine": {"epochs": 1, "batch_size": 32}}


def _config(**table):
    config = yaml.safe_load(open("config/config.yaml"))
    config["tables"]["default"].update(table)
    return config


def test_variants_name_their_aligner_and_epochs():
    assert epoch_variant("otdd-exact-e5") == ("otdd-exact", 5) and epoch_variant("l2-e12") == ("l2", 12)
    assert epoch_variant("otdd-exact") == ("otdd-exact", None)
    assert epoch_variant("none-e5") == ("none-e5", None)  # none trains no embedder: no variant
    assert epoch_variant("attention1-body") == ("attention1-body", None)
    table = {"aligners": ["none", "l2"], "controls": ["no-body"], "align_epochs": [1, 2]}
    assert network_methods(table) == ["none", "l2", "l2-e1", "l2-e2", "no-body"]


def test_the_grid_plans_one_align_job_with_snapshots_per_aligner():
    grid = Grid(_config(aligners=["none", "l2"], controls=[], align_epochs=[1, 2], seeds=[0]))
    runs = grid.table_runs("default", "results")
    assert "results/runs/iris/minilm-l6/l2-e1/clean/seed0.json" in runs
    jobs = [j for j in grid.table_jobs("default") if j["stage"] == "align" and j["identity"]["task"] == "iris"]
    assert [j["identity"]["method"] for j in jobs] == ["l2"]  # one align job serves l2, l2-e1 and l2-e2
    job = grid.job("align", task="iris", backbone="minilm-l6", method="l2", protocol="clean", seed=0)
    assert job.settings["snapshots"] == [1, 2] and grid.trains_embedder("l2-e2")
    plain = Grid(_config(seeds=[0]))
    assert "snapshots" not in plain.job("align", task="iris", backbone="minilm-l6", method="l2", protocol="clean",
                                        seed=0).settings


def test_an_epoch_count_at_or_over_a_task_s_align_epochs_is_a_config_error():
    with pytest.raises(ConfigError, match=r"align_epochs: 60 is not below iris's align.epochs"):
        Grid(_config(align_epochs=[60]))


@pytest.fixture(scope="module")
def iris(iris_with_source):
    return iris_with_source


def _align(root: Path, body, out: str, epochs: int, snapshots=None) -> Path:
    task = load_task("benchmarks/offline/iris.yaml", {**OVERRIDES, "align": {**OVERRIDES["align"], "epochs": epochs}})
    ident = {"task": "iris", "backbone": "roberta-base", "method": "l2", "protocol": "clean", "seed": 0}
    job = resolve_job("align", ident, "real", task, {"snapshots": snapshots} if snapshots else {})
    align_mod.run_align(job, JobIO(root / out, root / "data", source=root / "src.npz"), body=body, log=lambda *_: None)
    return root / out


def test_a_snapshot_is_the_embedder_a_shorter_run_ends_with(iris, tiny_text_body):
    long = _align(iris, tiny_text_body, "long", 3, [1, 2])
    for k in (1, 2):
        short = _align(iris, tiny_text_body, f"short{k}", k)
        snap = torch.load(long / f"embedder-e{k}.pt", weights_only=True)
        end = torch.load(short / "embedder.pt", weights_only=True)
        assert snap.keys() == end.keys() and all(torch.equal(snap[n], end[n]) for n in snap)
    final = torch.load(long / "embedder.pt", weights_only=True)
    assert not torch.equal(final["projection.weight"], snap["projection.weight"])  # epoch 3 moved on


def test_a_snapshot_outside_the_run_is_refused(iris, tiny_text_body):
    with pytest.raises(ValueError, match=r"align snapshots \[3\] are not between 1 and align.epochs - 1 = 2"):
        _align(iris, tiny_text_body, "bad", 3, [3])
