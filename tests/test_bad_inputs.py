"""The bad-input catalogue: each case exits non-zero, names the cause and the fix, and leaves no result."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from orca.cli import main
from orca.spec.tasks import TaskError, find_task_files
from orca.stages.sources import save_source

REPO = Path(__file__).resolve().parents[1]
FAST = {"align": {"epochs": 1, "maxsamples": 8}, "refine": {"epochs": 1, "batch_size": 32}}


WEIGHTS: dict = {}  # the tiny RoBERTa folder of the current workspace (given to align and refine as --weights)


@pytest.fixture
def ws(tmp_path, monkeypatch, tiny_roberta_dir):
    """A workspace: tiny RoBERTa as 'roberta-base' (--weights), a benchmark folder, a source file, data dir."""
    monkeypatch.setitem(WEIGHTS, "roberta-base", str(tiny_roberta_dir))
    bench = tmp_path / "bench"
    bench.mkdir()
    rng = np.random.default_rng(0)
    save_source({"xs": rng.normal(size=(50, 32)).astype(np.float32), "ys": rng.integers(0, 3, 50),
                 "origin": "test"}, tmp_path / "src.npz")
    return tmp_path


def npz_task(ws, name="toy", x_train=None, y_train=None, **spec_updates):
    """Write arrays + a task file reading them with the generic npz loader; returns the task file."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 1, 6)).astype(np.float32) if x_train is None else x_train
    y = np.arange(60) % 3 if y_train is None else y_train
    np.savez(ws / "data.npz", x_train=x, y_train=y, x_test=x[:12], y_test=y[:12])
    spec = {"name": name, "title": name, "suite": "test", "input": {"modality": "1d"},
            "output": {"kind": "classification"},
            "data": {"loader": "npz", "args": {"path": str(ws / "data.npz")}},
            "loss": {"name": "cross_entropy"}, "metric": "zero_one_error_pct",
            "embedder": {"target_seq_len": 8}, **FAST}
    for key, value in spec_updates.items():
        spec[key] = {**spec[key], **value} if isinstance(value, dict) and key in spec else value
    path = ws / "bench" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def orca(capsys, *argv):
    argv = [str(a) for a in argv]
    if argv[0] in ("align", "refine") and "--job" not in argv and WEIGHTS:
        argv += ["--weights", WEIGHTS["roberta-base"]]
    code = main(argv)
    return code, capsys.readouterr().err


def refine(ws, capsys, task, *extra):
    out = ws / "out" / "result.json"
    code, err = orca(capsys, "refine", "--task", task, "--benchmarks", ws / "bench", "--data-dir", ws / "data",
                     "--backbone", "roberta-base", "--method", "none", "--seed", 0, "--out", out,
                     "--checkpoint-dir", ws / "ckpt", *extra)
    return code, err, out


def test_malformed_yaml(ws, capsys):
    bad = ws / "bench" / "bad.yaml"
    bad.write_text("name: bad\ninput: {modality: 1d\n")
    code, err, out = refine(ws, capsys, bad)
    assert code == 2 and "malformed YAML" in err and str(bad) in err and not out.exists()


def test_task_file_that_is_a_list(ws, capsys):
    bad = ws / "bench" / "listed.yaml"
    bad.write_text("- name: x\n  title: x\n")
    with pytest.raises(TaskError, match=r"a task file must be a YAML mapping \(key: value\), got a list") as info:
        find_task_files([ws / "bench"])
    assert str(bad) in str(info.value)
    code, err, out = refine(ws, capsys, "x")  # by name: the folder is searched
    assert code == 2 and f"{bad}: a task file must be a YAML mapping" in err and not out.exists()


def test_unknown_task(ws, capsys):
    npz_task(ws)
    code, err, _ = refine(ws, capsys, "no-such-task")
    assert code == 2 and "unknown task 'no-such-task'; allowed: toy" in err


def test_unknown_backbone(ws, capsys):
    code, err = orca(capsys, "refine", "--task", npz_task(ws), "--backbone", "gpt-7", "--method", "none",
                     "--seed", 0, "--out", ws / "r.json", "--data-dir", ws / "data")
    assert code == 2 and "unknown backbone 'gpt-7'" in err and "roberta-base" in err


def test_unknown_aligner(ws, capsys):
    code, err = orca(capsys, "align", "--task", npz_task(ws), "--backbone", "roberta-base", "--method", "otdd-magic",
                     "--seed", 0, "--source", ws / "src.npz", "--out-dir", ws / "al", "--data-dir", ws / "data")
    assert code == 2 and "otdd-magic" in err and "otdd-exact" in err
    assert not (ws / "al" / "embedder.pt").exists()


def test_unknown_metric(ws, capsys):
    code, err, out = refine(ws, capsys, npz_task(ws, metric="accuracy-ish"))
    assert code == 2 and "unknown metric 'accuracy-ish'" in err and "one_minus_auroc" in err and not out.exists()


def test_loss_that_does_not_fit_the_output_kind(ws, capsys):
    code, err, out = refine(ws, capsys, npz_task(ws, loss={"name": "mse"}))  # a classification row
    assert code == 2 and not out.exists(), err
    assert "toy.yaml: loss.name 'mse' does not fit output.kind 'classification'" in err
    assert "allowed for classification: cross_entropy" in err


def test_missing_field(ws, capsys):
    path = npz_task(ws)
    spec = yaml.safe_load(path.read_text())
    del spec["loss"]
    path.write_text(yaml.safe_dump(spec))
    code, err, out = refine(ws, capsys, path)
    assert code == 2 and "'loss' is a required property" in err and not out.exists()


def test_wrong_type(ws, capsys):
    code, err, out = refine(ws, capsys, npz_task(ws, refine={"epochs": "three"}))
    assert code == 2 and "refine.epochs" in err and "'three' is not of type 'integer'" in err


@pytest.mark.parametrize("text,reason", [("refine.epochs=2", "not JSON (Expecting value"),
                                         ('[{"refine": {"epochs": 2}}]', "got an array")])
def test_overrides_that_are_not_a_json_object(ws, capsys, text, reason):
    code, err, out = refine(ws, capsys, npz_task(ws), "--overrides", text)
    assert code == 2 and not out.exists(), err
    assert f"--overrides: {reason}" in err and """give a JSON object, e.g. '{"refine": {"epochs": 2}}'""" in err


def test_real_and_rehearsal_jobs_never_share_a_data_folder(ws, capsys):
    (ws / "data").mkdir(exist_ok=True)
    code, err, out = refine(ws, capsys, npz_task(ws), "--mode", "rehearsal")  # no stand-in marker there
    assert code == 2 and "a rehearsal job reads stand-in data only" in err and not out.exists()
    (ws / "data" / "REHEARSAL-STANDINS").write_text("stand-ins\n")
    code, err, out = refine(ws, capsys, npz_task(ws))
    assert code == 2 and "holds a rehearsal's stand-in data" in err and not out.exists()


def test_a_job_document_edited_after_planning_is_refused(ws, capsys):
    from orca.spec.jobs import JobSettings
    from tests.stage_jobs import job_for
    from orca.spec.tasks import load_task

    job = job_for(load_task(npz_task(ws)), "refine", "roberta-base", "none", 0)
    doc = job.to_json()
    doc["settings"]["task"]["refine"]["lr"] = 0.5
    out = ws / "out" / "edited.json"
    code, err = orca(capsys, "refine", "--job", json.dumps(doc), "--settings-hash", job.settings_hash,
                     "--out", out, "--data-dir", ws / "data", "--checkpoint-dir", "none")
    assert code == 2 and "plan again" in err and not out.exists()
    assert JobSettings.loads(job.dumps(), "refine", job.settings_hash).settings == job.settings


def test_shape_does_not_match_data(ws, capsys):
    code, err, out = refine(ws, capsys, npz_task(ws, input={"modality": "1d", "shape": [1, 7]}))
    assert code == 2 and "input.shape" in err and "(1, 6)" in err and not out.exists()


def test_missing_data_file(ws, capsys):
    path = npz_task(ws)
    (ws / "data.npz").unlink()
    code, err, out = refine(ws, capsys, path)
    assert code == 2 and "data.npz not found" in err and not out.exists()


def test_truncated_data_file(ws, capsys):
    path = npz_task(ws)
    blob = (ws / "data.npz").read_bytes()
    (ws / "data.npz").write_bytes(blob[: len(blob) // 2])
    code, err, out = refine(ws, capsys, path)
    assert code == 2 and "data.npz" in err and not out.exists()


def test_nan_in_inputs(ws, capsys):
    x = np.random.default_rng(0).normal(size=(60, 1, 6)).astype(np.float32)
    x[3, 0, 2] = np.nan
    code, err, out = refine(ws, capsys, npz_task(ws, x_train=x))
    assert code == 2 and "NaN or infinite" in err and not out.exists()


def test_class_without_samples(ws, capsys):
    code, err, out = refine(ws, capsys, npz_task(ws, output={"kind": "classification", "num_outputs": 4}))
    assert code == 2 and "classes [3] have no training samples" in err and not out.exists()


# --- the data contract: checked when the data are loaded, before any training ---------------------------------
def test_labels_beyond_num_outputs(ws, capsys):
    path = npz_task(ws, y_train=np.arange(60) % 7, output={"kind": "classification", "num_outputs": 2})
    code, err, out = refine(ws, capsys, path)
    assert code == 2 and not out.exists(), err
    assert "labels [2, 3, 4, 5, 6] lie outside [0, 2)" in err and "output.num_outputs" in err and "data.npz" in err


def test_negative_labels_are_named(ws, capsys):
    code, err, out = refine(ws, capsys, npz_task(ws, y_train=np.arange(60) % 2 - 1))
    assert code == 2 and not out.exists(), err
    assert "labels [-1] lie outside [0, 1)" in err and "renumber the labels" in err


def test_labels_wider_than_num_outputs(ws, capsys):
    y = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    path = npz_task(ws, y_train=y, output={"kind": "regression", "num_outputs": 1}, loss={"name": "mse"},
                    metric="one_minus_r2")
    code, err, out = refine(ws, capsys, path)
    assert code == 2 and not out.exists(), err
    assert "data.npz" in err and "labels have shape (60, 3) but output.num_outputs is 1" in err
    assert "set output.num_outputs to the labels' width (3) or fix the data" in err


def test_text_labels(ws, capsys):
    code, err, out = refine(ws, capsys, npz_task(ws, y_train=np.array(["cat", "dog", "eel"] * 20)))
    assert code == 2 and not out.exists(), err
    assert "data.npz" in err and "y_train" in err and "targets are not numbers" in err and "'cat'" in err


def test_empty_training_split(ws, capsys):
    path = npz_task(ws)
    x = np.random.default_rng(0).normal(size=(12, 1, 6)).astype(np.float32)
    np.savez(ws / "data.npz", x_train=x[:0], y_train=np.zeros(0, dtype=np.int64), x_test=x, y_test=np.arange(12) % 3)
    code, err, out = refine(ws, capsys, path)
    assert code == 2 and not out.exists(), err
    assert "train split: no samples" in err and "data.args" in err


def test_inputs_beyond_float32(ws, capsys):
    x = np.random.default_rng(0).normal(size=(60, 1, 6))
    x[5, 0, 1] = 1e39
    code, err, out = refine(ws, capsys, npz_task(ws, x_train=x))
    assert code == 2 and not out.exists(), err
    assert "beyond the float32 range" in err and "data.npz" in err and "rescale" in err


def test_corrupt_embedder_file(ws, capsys):
    bad = ws / "embedder.pt"
    bad.write_bytes(b"not a checkpoint at all")
    code, err, out = refine(ws, capsys, npz_task(ws), "--embedder", bad)
    assert code == 2 and not out.exists(), err
    assert f"--embedder {bad}: cannot be read" in err and "expected the embedder.pt `orca align` writes" in err


def test_embedder_of_another_task(ws, capsys):
    import torch

    other = ws / "other.pt"
    torch.save({"embed.weight": torch.zeros(3, 2)}, other)
    code, err, out = refine(ws, capsys, npz_task(ws), "--embedder", other)
    assert code == 2 and not out.exists(), err
    assert f"--embedder {other}: does not fit this embedder" in err and "task 'toy' on roberta-base" in err


def test_constant_feature_column_is_handled(ws, capsys):
    x = np.random.default_rng(0).normal(size=(60, 1, 6)).astype(np.float32)
    x[:, 0, 4] = 7.0
    code, err, out = refine(ws, capsys, npz_task(ws, x_train=x))
    assert code == 0, err
    assert np.isfinite(json.loads(out.read_text())["scores"]["test_at_best_val"])


def test_unwritable_results_directory(ws, capsys):
    blocker = ws / "a-file"
    blocker.write_text("not a folder")
    code, err = orca(capsys, "refine", "--task", npz_task(ws), "--benchmarks", ws / "bench", "--backbone",
                     "roberta-base", "--method", "none", "--seed", 0, "--out", blocker / "r.json",
                     "--data-dir", ws / "data")
    assert code == 2 and "cannot write" in err and "writable output folder" in err


def test_bad_checkpoint_interval_is_named(ws, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage line + the reason, exit 2
        refine(ws, capsys, npz_task(ws), "--checkpoint-every", "-5")
    assert exit_info.value.code == 2 and "--checkpoint-every" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        refine(ws, capsys, npz_task(ws), "--checkpoint-every", "soon")
    assert "'soon' is not a number of seconds" in capsys.readouterr().err


def test_nan_loss_stops_with_step_and_keeps_checkpoint(ws, capsys, monkeypatch):
    import torch

    import orca.stages.refine as refine_mod

    real = refine_mod.make_loss

    def poisoned(name, **opts):
        loss, calls = real(name, **opts), {"n": 0}

        def fn(out, y):
            calls["n"] += 1
            value = loss(out, y)
            return value * torch.nan if calls["n"] == 4 else value  # the 2nd epoch's 2nd step
        return fn

    monkeypatch.setattr(refine_mod, "make_loss", lambda name, **o: _Wrap(poisoned(name, **o)))
    code, err, out = refine(ws, capsys, npz_task(ws, refine={"epochs": 3, "batch_size": 32}),
                            "--checkpoint-every", "0")  # a checkpoint after epoch 1
    assert code == 2 and "refine loss became nan at epoch 2, step 3" in err and "lower refine.lr" in err
    assert "the last good checkpoint is kept" in err
    assert not out.exists() and list((ws / "ckpt").glob("refine-*.pt")), "last good checkpoint must be kept"


class _Wrap(__import__("torch").nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, out, y):
        return self.fn(out, y)


def dry_run(tmp_path, **config_updates):
    """`snakemake -n` on the shipped config with ``config_updates``, run in ``tmp_path``: (exit status, output)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update({"benchmarks": [str(REPO / "benchmarks")], **config_updates})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(tmp_path / "c.yaml"), "-n", "--cores", "1"],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_empty_seed_list_fails_before_any_job(tmp_path):
    tables = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["tables"]
    tables["default"]["seeds"] = []
    code, out = dry_run(tmp_path, tables=tables)
    assert code != 0 and "seeds" in out and "should be non-empty" in out
    assert not (tmp_path / "results").exists()


def test_task_file_that_is_a_list_stops_the_workflow(tmp_path):
    (tmp_path / "bench").mkdir()
    bad = tmp_path / "bench" / "listed.yaml"
    bad.write_text("- name: x\n")
    code, out = dry_run(tmp_path, benchmarks=[str(tmp_path / "bench")])
    assert code != 0 and f"{bad}: a task file must be a YAML mapping (key: value), got a list" in out, out
    assert "AttributeError" not in out and not (tmp_path / "results").exists()


def test_checksum_mismatch_is_refused_at_fetch(ws, capsys):
    rng = np.random.default_rng(0)
    (ws / "data" / "toy").mkdir(parents=True)
    np.save(ws / "data" / "toy" / "x.npy", rng.normal(size=(20, 1, 6)).astype(np.float32))
    np.save(ws / "data" / "toy" / "y.npy", np.arange(20) % 2)
    wrong = {"name": "x.npy", "md5": "0" * 32, "urls": ["https://example.org/x.npy"]}
    spec = yaml.safe_load(npz_task(ws).read_text())
    spec["data"] = {"loader": "arrays",
                    "args": {"root": "toy", "x_train": "x.npy", "y_train": "y.npy", "download": [wrong]}}
    path = ws / "bench" / "toy.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, err = orca(capsys, "fetch", "--task", path, "--data-dir", ws / "data", "--done", ws / "ok")
    assert code == 2 and "does not match the manifest" in err and "delete the file and fetch again" in err
    assert not (ws / "ok").exists(), "a failed fetch must not mark the data as ready"
