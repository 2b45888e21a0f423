import pytest
import yaml

from orca.tasks import TaskError, find_task_files, load_task, settings_hash, stage_settings

IRIS = "benchmarks/offline/iris.yaml"


def write(tmp_path, name, spec):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec) if isinstance(spec, dict) else spec)
    return path


def iris_spec():
    return yaml.safe_load(open(IRIS))


def test_every_shipped_task_file_is_valid():
    files = find_task_files(["benchmarks"])
    assert {"iris", "wine", "wdbc", "ecg5000", "digits"} <= set(files)
    for path in files.values():
        load_task(path)


def test_defaults_filled_and_embedder_lr_is_ten_times_task_lr():
    task = load_task(IRIS)
    assert task["align"]["lr"] == pytest.approx(10 * task["refine"]["lr"])
    assert task["refine"]["eval_batch_size"] == 256


def test_refine_settings_do_not_enter_align_settings():
    a = load_task(IRIS)
    b = load_task(IRIS, overrides={"refine": {"epochs": 99}})
    assert stage_settings(a, "align") == stage_settings(b, "align")
    assert settings_hash(stage_settings(a, "refine")) != settings_hash(stage_settings(b, "refine"))


@pytest.mark.parametrize("mutate,match", [
    (lambda s: s.pop("metric"), "'metric' is a required property"),
    (lambda s: s["refine"].update(epochs="ten"), "refine.epochs"),
    (lambda s: s.update(metric="accuracy-ish"), "unknown metric 'accuracy-ish'"),
    (lambda s: s["data"].update(loader="parquet-ish"), "unknown data loader"),
    (lambda s: s["input"].update(modality="3d"), "input.modality"),
    (lambda s: s.update(surprise=1), "surprise"),
])
def test_bad_task_files_name_the_field(tmp_path, mutate, match):
    spec = iris_spec()
    mutate(spec)
    with pytest.raises(TaskError, match=match):
        load_task(write(tmp_path, "bad", spec))


def test_malformed_yaml(tmp_path):
    with pytest.raises(TaskError, match="malformed YAML"):
        load_task(write(tmp_path, "bad", "name: [unclosed\n"))


def test_duplicate_task_names_are_refused(tmp_path):
    write(tmp_path, "a", iris_spec())
    write(tmp_path, "b", iris_spec())
    with pytest.raises(TaskError, match="defined twice"):
        find_task_files([tmp_path])
