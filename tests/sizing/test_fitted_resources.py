"""Every paper task file asks for what its committed sizing record measured (orca/sizing/fit.py): memory at
least the measured peak x the margin, time at least the modelled runtime on the reference GPU; and no lazy
loader's measured peak at the real array size is over its task's memory (scripts/bench_loaders.py's CSV)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from orca.plan.config import load_config, planning_config
from orca.plan.grid import Grid
from orca.sizing.fit import CUDA_HOST_MB, MEM_MARGIN, fitted_resources

SIZING = Path("results/sizing")


@pytest.fixture(scope="module")
def paper():
    return Grid(planning_config(load_config(["config/paper.yaml"])))


def test_every_paper_task_is_sized_and_asks_for_enough(paper):
    fitted = fitted_resources(paper, None, SIZING)
    used = {t for table in paper.config["targets"] for t in paper.config["tables"][table]["tasks"]}
    assert set(fitted) == used, f"not sized: {sorted(used - set(fitted))}: run orca size (docs/sizing.md)"
    short = []
    for name, f in sorted(fitted.items()):
        r = paper.task(name).resources
        if r.mem_mb < (f["peak_mb"] + f["data_mb"]) * MEM_MARGIN + (CUDA_HOST_MB if r.gpus else 0) or r.runtime_min < f["modelled_min"]:
            short.append(f"{name}: asks {r.mem_mb} MB / {r.runtime_min} min, measured {f['peak_mb']:.0f} MB "
                         f"+ data {f['data_mb']:.0f} MB x {MEM_MARGIN}, modelled {f['modelled_min']:.0f} min")
    assert not short, "run python scripts/fit_resources.py:\n" + "\n".join(short)


def test_no_lazy_loader_peak_is_over_its_task_memory(paper):
    path = SIZING / "loaders.csv"
    if not path.is_file():
        pytest.skip(f"no {path}: python scripts/bench_loaders.py writes it")
    rows = list(csv.DictReader(path.open()))
    assert rows
    from orca.spec.tasks import load_task

    for row in rows:  # the task file's memory now, not the one the benchmark read
        assert float(row["lazy_peak_mb"]) < load_task(row["task"]).resources.mem_mb, row


def test_rewriting_keeps_the_rest_of_the_task_file(tmp_path):
    from orca.sizing.fit import rewrite_resources

    path = tmp_path / "t.yaml"
    path.write_text("name: t\nresources: {mem_mb: 32000, runtime_min: 1440, gpus: 1, cpus: 8}\npublished: []\n")
    assert rewrite_resources(path, 7000, 110)
    assert path.read_text() == "name: t\nresources: {mem_mb: 7000, runtime_min: 110, gpus: 1, cpus: 8}\npublished: []\n"
    assert not rewrite_resources(path, 7000, 110)
    (tmp_path / "u.yaml").write_text("name: u\nresources:\n  mem_mb: 1\n")
    with pytest.raises(ValueError, match="no one-line `resources"):
        rewrite_resources(tmp_path / "u.yaml", 1, 1)
