"""orca.sizing.shapes: the distinct sizing units of a config, read from task files only."""
from __future__ import annotations

import shutil

import pytest

from orca.plan.config import load_config, planning_config
from orca.plan.grid import Grid
from orca.sizing.shapes import DEFAULT_SIZING, SizingError, per_sample_shape, sizing_units


def _grid(tables: dict, benchmarks=("benchmarks",), **extra) -> Grid:
    config = load_config()
    config.update(benchmarks=list(benchmarks), tables=tables, targets=list(tables), **extra)
    return Grid(planning_config(config))


def test_the_default_table_has_one_unit_per_row_with_what_its_jobs_run():
    units = sizing_units(Grid(planning_config(load_config())))
    assert [u.name for u in units] == [f"{t}--minilm-l6" for t in
                                       ("iris", "wine", "wdbc", "ecg5000", "digits", "advection1d")]
    job = units[0].job
    assert job.stage == "size" and job.mode == "sizing" and job.job == {"task": "iris", "backbone": "minilm-l6"}
    assert job.settings["modes"] == ["frozen", "full"]  # the frozen-body control trains fewer weights
    assert sorted(m for m, _ in job.settings["aligners"]) == ["l2", "mmd", "otdd-exact"]
    assert job.settings["sizing"] == DEFAULT_SIZING and job.settings["task"]["sizes"]["train"] == 135


def test_sizing_settings_are_hashed_and_unknown_ones_refused():
    grid = Grid(planning_config(load_config()))
    base = sizing_units(grid)[0].job.settings_hash
    assert sizing_units(grid, sizing={"steps": 5})[0].job.settings_hash != base
    with pytest.raises(SizingError, match="unknown sizing settings max_stepz"):
        sizing_units(grid, sizing={"max_stepz": 5})


def test_rows_with_the_same_shapes_share_one_measurement(tmp_path):
    folder = tmp_path / "bench"
    folder.mkdir()
    for name in ("iris", "wine"):
        shutil.copy(f"benchmarks/offline/{name}.yaml", folder / f"{name}.yaml")
    twin = (folder / "iris.yaml").read_text().replace("name: iris", "name: iris-twin").replace(
        "dataset_id: 61", "dataset_id: 9061")
    (folder / "iris-twin.yaml").write_text(twin)  # other data, same shapes
    tables = {"t": {"title": "t", "tasks": ["iris", "wine", "iris-twin"], "backbones": ["minilm-l6"],
                    "aligners": ["none"], "seeds": [0]}}
    units = sizing_units(_grid(tables, [str(folder)]))
    assert [u.name for u in units] == ["iris--minilm-l6", "wine--minilm-l6"]
    assert units[0].members == [("t", "iris"), ("t", "iris-twin")]
    assert units[0].job.settings["aligners"] == []  # naive fine-tuning only: no align step to size


def test_a_row_in_two_tables_is_sized_for_both():
    tables = {"a": {"title": "a", "tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["l2"], "seeds": [0]},
              "b": {"title": "b", "tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["mmd"],
                    "controls": ["frozen-body"], "seeds": [0]}}
    (unit,) = sizing_units(_grid(tables))
    assert unit.members == [("a", "iris"), ("b", "iris")]
    assert [m for m, _ in unit.job.settings["aligners"]] == ["l2", "mmd"]
    assert unit.job.settings["modes"] == ["frozen", "full"]


def test_a_tabular_row_needs_its_feature_count(tmp_path):
    text = open("benchmarks/offline/iris.yaml").read()
    path = tmp_path / "iris.yaml"
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("sizes:")) + "\n")
    from orca.spec.tasks import load_task

    with pytest.raises(SizingError, match=r"iris.yaml: sizing needs the per-sample input shape.*sizes.features"):
        per_sample_shape(load_task(path))
    assert per_sample_shape(load_task("benchmarks/offline/iris.yaml")) == [1, 4]
    assert per_sample_shape(load_task("benchmarks/offline/digits.yaml")) == [1, 8, 8]
