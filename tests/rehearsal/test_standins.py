"""Stand-in writers: each writes its task's raw layout, and fetch, the prepare step and the loader run unchanged
on it, giving the shapes the task file declares."""
import numpy as np
import pytest
import yaml

from orca.data import fetch, load_task_data
from orca.data.preparation.prepare import prepare_task
from orca.rehearsal.standins import MARKER, WRITERS, Size, _load_writers, write_standins, writer_key
from orca.spec.tasks import find_task_files, load_task
from tests.workflow.test_e2e import REPO

SMALL = Size(train=6, test=3)


def paper_tasks():
    tables = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["tables"]
    names = {t for table in tables.values() for t in table["tasks"]}
    return {n: load_task(p) for n, p in find_task_files([REPO / "benchmarks"]).items() if n in names}


def one_task_per_writer():
    out = {}
    for name, task in sorted(paper_tasks().items()):
        out.setdefault(writer_key(task), name)
    return sorted(out.values())


def test_every_paper_row_has_a_writer_for_its_loader_or_prepare_step():
    _load_writers()
    missing = {n: writer_key(t) for n, t in paper_tasks().items() if writer_key(t) not in WRITERS}
    assert not missing


def _declared(task, data):
    shape = task.spec["input"].get("shape")
    if shape:
        assert data.x_train.shape[1:] == tuple(shape) and data.x_test.shape[1:] == tuple(shape)
    out = task.spec["output"]
    if out["kind"] == "classification" and out.get("num_outputs"):
        assert set(np.unique(data.y_train)) == set(range(out["num_outputs"]))  # every class in training
    if out["kind"] in ("multilabel", "dense", "regression") and out.get("num_outputs"):
        assert data.y_train.shape[1] == out["num_outputs"]


@pytest.mark.parametrize("name", [n for n in one_task_per_writer() if n != "psicov"] + ["cifar100", "darcy-flow",
                                                                                       "spherical", "pde-cfd1d"])
def test_standins_fetch_prepare_and_load_with_the_declared_shapes(name, tmp_path, monkeypatch, capsys):
    task = paper_tasks()[name]
    assert write_standins(task, tmp_path, SMALL)
    if task.spec.get("prepare"):
        prepare_task(task, tmp_path)
    fetch(task.spec["data"]["loader"], task.spec["data"]["args"], tmp_path)
    data = load_task_data(task.spec["data"]["loader"], task.spec["data"]["args"], 0, tmp_path)
    _declared(task, data)


def test_psicov_standin_prepares_with_a_small_window(tmp_path):
    """The real step on stand-in proteins (window shrunk here only to keep the test small)."""
    task = load_task(REPO / "benchmarks/nb360/psicov.yaml", {"prepare": {"args": {"window": 48}}})
    write_standins(task, tmp_path, SMALL)
    prepare_task(task, tmp_path)
    data = load_task_data("arrays", task.spec["data"]["args"], 0, tmp_path)
    assert data.x_train.shape[1:] == (57, 48, 48) and data.y_test.shape[1:] == (1, 48, 48)


def test_checksums_are_skipped_only_in_a_standin_folder_and_it_says_so(tmp_path, monkeypatch, capsys):
    task = paper_tasks()["pde-darcy"]  # an MD5 in its manifest that no stand-in matches
    write_standins(task, tmp_path, SMALL)  # marks the folder as a rehearsal's (REHEARSAL-STANDINS)
    fetch(task.spec["data"]["loader"], task.spec["data"]["args"], tmp_path)
    assert "checksum and size checks skipped" in capsys.readouterr().err
    (tmp_path / "REHEARSAL-STANDINS").unlink()  # the same files outside a stand-in folder: checked
    monkeypatch.setenv("ORCA_REHEARSAL", "1")  # and the environment changes nothing
    with pytest.raises(ValueError, match="md5"):
        fetch(task.spec["data"]["loader"], task.spec["data"]["args"], tmp_path)


def test_a_data_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "real.h5").write_bytes(b"real data")
    with pytest.raises(ValueError, match="not a rehearsal data folder"):
        write_standins(paper_tasks()["satellite"], tmp_path, SMALL)
    assert (tmp_path / "real.h5").read_bytes() == b"real data" and not (tmp_path / MARKER).exists()


def test_second_call_writes_nothing_new(tmp_path):
    task = paper_tasks()["satellite"]
    first = write_standins(task, tmp_path, SMALL)
    stamp = [p.stat().st_mtime_ns for p in first]
    assert write_standins(task, tmp_path, SMALL) == first
    assert [p.stat().st_mtime_ns for p in first] == stamp


def test_unknown_loader_names_the_fix(tmp_path):
    real = paper_tasks()["satellite"]
    task = type(real)(real.name, real.path, {**real.spec, "data": {**real.spec["data"], "loader": "nosuch"}})
    with pytest.raises(ValueError, match="no stand-in writer for 'loader:nosuch'"):
        write_standins(task, tmp_path, SMALL)
