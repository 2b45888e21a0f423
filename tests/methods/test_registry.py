"""Methods as files: the built-in ones, one added from a temporary folder, settings and what a job carries."""
import json

import pytest
import torch

from orca.methods import (AlignMethod, ControlMethod, MethodError, all_methods, get_method, load_method_file,
                          method_setting, methods_of_kind, register_method_dirs, register_method_setting,
                          resolve_settings)
from orca.methods import registry

MEAN_GAP = '''
from orca.methods import AlignMethod


def make_aligner(solver="converged", scale=1.0):
    from orca.align.distances import Aligner

    class MeanGap(Aligner):
        name = "mean-gap"

        def _prepare(self, x, y):
            self.mu = x.mean(0)

        def _distance(self, x, y):
            return scale * (x.mean(0) - self.mu.to(x)).pow(2).sum()

    return MeanGap()


METHOD = AlignMethod("mean-gap", "scaled squared gap of the feature means", settings={"scale": 1.0},
                     make_aligner=make_aligner)
'''


@pytest.fixture
def restore_registry():
    before = dict(all_methods())
    yield
    registry._METHODS.clear()
    registry._METHODS.update(before)


@pytest.fixture
def method_dir(tmp_path, restore_registry):
    folder = tmp_path / "methods"
    folder.mkdir()
    (folder / "mean_gap.py").write_text(MEAN_GAP)
    (folder / "mean_gap.yaml").write_text("tasks: {wine: {scale: 3.0}}\n")
    return folder


def test_built_in_methods_are_files_with_their_kind():
    assert methods_of_kind("align") == ["l2", "mmd", "none", "otdd-exact", "otdd-gaussian", "otdd-sliced", "recraft"]
    assert methods_of_kind("control") == ["attention1-body", "frozen-body", "lora", "no-body", "random-body"]
    assert not get_method("none").trains_embedder and get_method("l2").trains_embedder
    assert get_method("lora").refine == {"finetune": "lora"} and get_method("no-body").body == "none"
    assert all(m.builtin and m.file.endswith(".py") for m in all_methods().values())


def test_a_method_from_a_folder_registers_with_its_settings(method_dir):
    assert register_method_dirs([method_dir]) == ["mean-gap"]
    method = get_method("mean-gap")
    assert isinstance(method, AlignMethod) and method.trains_embedder and not method.builtin
    assert resolve_settings("mean-gap", "iris") == {"scale": 1.0}
    assert resolve_settings("mean-gap", "wine") == {"scale": 3.0}  # the settings file's per-task value
    assert resolve_settings("mean-gap", "wine", {"scale": 5}) == {"scale": 5}  # the config's over both
    aligner = method.make_aligner(solver="converged", scale=2.0)
    aligner.prepare(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    assert float(aligner(torch.ones(2, 3), torch.zeros(2, dtype=torch.long))) == pytest.approx(6.0)


def test_bad_settings_name_the_method_and_the_fix(method_dir):
    register_method_dirs([method_dir])
    with pytest.raises(MethodError, match="unknown setting.*scal.*mean-gap has scale"):
        resolve_settings("mean-gap", None, {"scal": 2.0})
    with pytest.raises(MethodError, match="scale = 'big' is not a float"):
        resolve_settings("mean-gap", None, {"scale": "big"})
    with pytest.raises(MethodError, match="unknown method 'mean-gaps'.*method_dirs"):
        get_method("mean-gaps")


def test_a_file_without_method_or_a_taken_name_is_refused(tmp_path, restore_registry):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "empty.py").write_text("X = 1\n")
    with pytest.raises(MethodError, match="defines no METHOD"):
        register_method_dirs([tmp_path / "a"])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "l2.py").write_text("from orca.methods import ControlMethod\n"
                                          "METHOD = ControlMethod('l2', 'a second l2')\n")
    with pytest.raises(MethodError, match="'l2' .* is already defined by .*builtin/l2.py"):
        register_method_dirs([tmp_path / "b"])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "odd.py").write_text("from orca.methods import ControlMethod\n"
                                           "METHOD = ControlMethod('odd', 'x', body='half')\n")
    with pytest.raises(MethodError, match="body 'half'; allowed: pretrained, random, attention1, none"):
        register_method_dirs([tmp_path / "c"])


def test_a_job_carries_a_user_method_s_file_and_refuses_a_changed_one(method_dir):
    register_method_dirs([method_dir])
    setting = method_setting("align", "mean-gap", "wine")
    assert setting["settings"] == {"scale": 3.0} and setting["file"].endswith("mean_gap.py")
    assert len(setting["sha256"]) == 64 and "settings_file_sha256" in setting
    assert method_setting("align", "l2", "iris") is None  # built in, no settings: nothing in the job's settings
    refine = method_setting("refine", "mean-gap", "wine")  # refine: where the file is, no settings
    assert refine == {k: v for k, v in setting.items() if k != "settings"}
    registry._METHODS.pop("mean-gap")
    register_method_setting(json.loads(json.dumps(setting)))  # a job's process: known again from its document
    assert get_method("mean-gap").file == setting["file"]
    (method_dir / "mean_gap.py").write_text(MEAN_GAP + "\n# edited\n")
    with pytest.raises(MethodError, match="changed since the job was planned; plan again"):
        register_method_setting(setting)


def test_a_control_file_reaches_refine_settings(tmp_path, restore_registry):
    from orca.stages.controls import body_of, finetune_of

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "lora_random.py").write_text(
        "from orca.methods import ControlMethod\n"
        "METHOD = ControlMethod('lora-random', 'LoRA on a random body', body='random', refine={'finetune': 'lora'})\n")
    register_method_dirs([tmp_path / "m"])
    assert isinstance(load_method_file(tmp_path / "m" / "lora_random.py"), ControlMethod)
    assert body_of("lora-random") == "random" and finetune_of("lora-random") == "lora"


def test_orca_methods_lists_built_in_and_user_methods(method_dir, capsys):
    from orca.cli import main

    assert main(["methods", "--method-dir", str(method_dir)]) == 0
    out = capsys.readouterr().out
    assert "mean-gap" in out and "settings: {'scale': 1.0}" in out and "otdd-exact" in out and "roberta-base" in out
    assert out.index("otdd-exact") < out.index("frozen-body")  # align methods first, then controls


def test_recraft_s_per_task_settings_name_real_tasks_and_reach_its_align_jobs():
    from orca.spec.tasks import find_task_files

    method = get_method("recraft")
    assert method.run_align is not None and method.make_aligner is None and method.trains_embedder
    tasks = find_task_files(["benchmarks"])
    assert set(method.task_settings) <= set(tasks)  # every per-task value is for a task of ours
    psicov = method_setting("align", "recraft", "psicov")["settings"]
    assert (psicov["label_maxsamples"], psicov["label_epochs"], psicov["lb_samples"]) == (16, 4, 750)
