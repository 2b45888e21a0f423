"""Every task file's real split sizes (the `sizes` section, orca/schemas/task.schema.yaml): each row of the
paper grid (config/paper.yaml) says how many samples its loader delivers and where the numbers come from, so
that `orca size` / `orca cost` can size every unit without the data."""
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.model_selection import ShuffleSplit

from orca.plan.config import load_config, planning_config
from orca.plan.grid import Grid
from orca.sizing.shapes import per_sample_shape, sizing_units
from orca.spec.tasks import TaskError, find_task_files, load_task

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper.yaml"
IRIS = REPO / "benchmarks" / "offline" / "iris.yaml"


@pytest.fixture(scope="module")
def tasks():
    return {name: load_task(path) for name, path in find_task_files([REPO / "benchmarks"]).items()}


@pytest.fixture(scope="module")
def paper_grid():
    return Grid(planning_config(load_config([PAPER])))


@pytest.fixture(scope="module")
def paper_tasks(paper_grid, tasks):
    # the tables config/paper.yaml builds (its targets; config/config.yaml's own tables are merged in too)
    tables = paper_grid.config["tables"]
    names = {n for table in paper_grid.config["targets"] for n in tables[table]["tasks"]}
    assert names, "config/paper.yaml names no task"
    return {n: tasks[n] for n in sorted(names)}


def test_every_task_file_loads(tasks):
    assert tasks  # load_task validated each against the schema (sizes included)


def test_every_paper_row_has_its_split_sizes_and_their_source(paper_tasks):
    for t in paper_tasks.values():
        s = t.spec.get("sizes")
        assert s, f"{t.path}: no sizes section"
        assert isinstance(s["train"], int) and s["train"] >= 1, f"{t.path}: sizes.train"
        assert isinstance(s["test"], int) and s["test"] >= 1, f"{t.path}: sizes.test"
        assert len(s["source"].strip()) >= 10, f"{t.path}: sizes.source must say where the numbers come from"


def test_a_row_without_input_shape_gives_its_feature_count(paper_tasks):
    for t in paper_tasks.values():
        if t.input.shape:
            continue
        assert t.input.modality == "1d", f"{t.path}: a 2D row needs input.shape (sizes.features is a 1D row's length)"
        assert (t.spec.get("sizes") or {}).get("features"), f"{t.path}: no input.shape, so sizes.features is needed"
        assert per_sample_shape(t) == [1, t.spec["sizes"]["features"]]


def test_a_classification_row_without_num_outputs_gives_its_class_count(paper_tasks):
    for t in paper_tasks.values():
        if t.output.kind == "classification" and not t.output.num_outputs:
            classes = (t.spec.get("sizes") or {}).get("classes")
            assert classes and classes >= 2, f"{t.path}: sizes.classes is needed (the align loop visits every class)"
            assert t.spec["sizes"]["test"] >= classes or t.spec["sizes"]["train"] >= classes


def test_openml_rows_split_as_the_loader_does(paper_tasks):
    # orca/data/loaders/openml_tabular.py: sklearn train_test_split(test_size) on all rows -> test = ceil(test_size N)
    for t in paper_tasks.values():
        if t.spec["data"]["loader"] != "openml":
            continue
        s, test_size = t.spec["sizes"], float(t.spec["data"]["args"].get("test_size", 0.1))
        n = s["train"] + s["test"]
        tr, te = next(ShuffleSplit(n_splits=1, test_size=test_size, random_state=0).split(np.zeros((n, 1))))
        assert (len(tr), len(te)) == (s["train"], s["test"]), t.path
        assert s["test"] == math.ceil(test_size * n), t.path


def test_pdebench_rows_split_as_the_loader_does(paper_tasks):
    # orca/data/loaders/hdf5_pde.py: the first round(test_fraction N) samples are the test set
    for t in paper_tasks.values():
        if t.spec["data"]["loader"] != "pdebench_hdf5":
            continue
        s, a = t.spec["sizes"], t.spec["data"]["args"]
        n = s["train"] + s["test"]
        assert not a.get("max_samples") or n <= a["max_samples"], t.path
        assert s["test"] == max(1, int(round(float(a.get("test_fraction", 0.1)) * n))), t.path


def test_the_planner_sizes_every_paper_unit(paper_grid, paper_tasks):
    """What `orca size --configfile config/paper.yaml --list` plans: every row of every table is a member."""
    units = sizing_units(paper_grid)
    members = {task for u in units for _, task in u.members}
    assert set(paper_tasks) <= members
    for u in units:
        assert u.job.job["task"] in paper_tasks


def test_schema_takes_a_class_count_of_two_or_more(tmp_path):
    spec = yaml.safe_load(IRIS.read_text())
    spec["sizes"] = {"train": 120, "test": 30, "features": 4, "classes": 3, "source": "sklearn load_iris: 150 rows"}
    good = tmp_path / "iris.yaml"
    good.write_text(yaml.safe_dump(spec))
    assert load_task(good).spec["sizes"]["classes"] == 3
    spec["sizes"]["classes"] = 1
    bad = tmp_path / "bad" / "iris.yaml"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump(spec))
    with pytest.raises(TaskError):
        load_task(bad)
