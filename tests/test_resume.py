"""Kill real align and refine jobs (by signal, from the test) and check the resumed runs end identically."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from orca.training.checkpoint import EXIT_PREEMPTED
from orca.stages.sources import save_source

REPO = Path(__file__).resolve().parents[1]
OVERRIDES = json.dumps({"align": {"epochs": 12, "maxsamples": 32}, "refine": {"epochs": 8, "batch_size": 16}})


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_roberta_dir):
    root = tmp_path_factory.mktemp("resume")
    (root / "weights").symlink_to(tiny_roberta_dir)  # a local Hugging Face folder: the jobs' --weights
    rng = np.random.default_rng(0)
    save_source({"xs": rng.normal(size=(300, 32)).astype(np.float32), "ys": rng.integers(0, 5, 300),
                 "origin": "test"}, root / "src.npz")
    e = {**os.environ, "PYTHONUNBUFFERED": "1", "ORCA_THREADS": "1"}
    return root, e


def orca_cmd(root, stage, out, extra=()):
    common = ["--task", "ecg5000", "--benchmarks", str(REPO / "benchmarks"), "--data-dir", str(root / "data"),
              "--backbone", "roberta-base", "--method", "l2", "--seed", "0", "--overrides", OVERRIDES,
              "--checkpoint-dir", str(root / "ckpt"), "--weights", str(root / "weights"),
              "--checkpoint-every", "0"]  # a checkpoint after every epoch, so a SIGKILL finds one
    if stage == "align":
        return [sys.executable, "-m", "orca", "align", *common, "--source", str(root / "src.npz"), "--out-dir", str(out)]
    return [sys.executable, "-m", "orca", "refine", *common, "--embedder", str(root / "ref-align" / "embedder.pt"),
            "--out", str(out), *extra]


def run(cmd, env):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def interrupt(cmd, env, after: str, sig: int) -> int:
    """Start ``cmd``, send ``sig`` as soon as a line containing ``after`` is printed; return the exit code."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if after in line:
            proc.send_signal(sig)
            break
    proc.stdout.read()
    return proc.wait(timeout=600)


@pytest.fixture(scope="module")
def reference(env):
    root, e = env
    run(orca_cmd(root, "align", root / "ref-align"), e)
    run(orca_cmd(root, "refine", root / "ref.json"), e)
    return json.loads((root / "ref.json").read_text())


def test_align_killed_then_resumed_gives_the_same_embedder(env, reference):
    root, e = env
    code = interrupt(orca_cmd(root, "align", root / "kill-align"), e, "epoch 3/12", signal.SIGKILL)
    assert code == -signal.SIGKILL and not (root / "kill-align" / "embedder.pt").exists()
    assert list((root / "ckpt").glob("align-*.pt")), "no checkpoint survived the kill"
    proc = run(orca_cmd(root, "align", root / "kill-align"), e)
    assert "resuming after epoch" in proc.stdout + proc.stderr
    a = torch.load(root / "ref-align" / "embedder.pt", weights_only=True)
    b = torch.load(root / "kill-align" / "embedder.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((root / "kill-align" / "align.json").read_text())["distance_per_epoch"] == \
        json.loads((root / "ref-align" / "align.json").read_text())["distance_per_epoch"]
    assert not list((root / "ckpt").glob("align-*.pt")), "checkpoint not removed after success"


@pytest.mark.parametrize("sig,after", [(signal.SIGKILL, "epoch 2/8"), (signal.SIGTERM, "epoch 3/8"),
                                       (signal.SIGUSR1, "epoch 5/8")])
def test_refine_interrupted_then_resumed_gives_the_same_scores(env, reference, sig, after):
    root, e = env
    out = root / f"r-{sig}.json"
    code = interrupt(orca_cmd(root, "refine", out), e, after, sig)
    expected = -signal.SIGKILL if sig == signal.SIGKILL else EXIT_PREEMPTED
    assert code == expected and not out.exists(), "an interrupted job must leave no result"
    proc = run(orca_cmd(root, "refine", out), e)
    assert "resuming at epoch" in proc.stdout + proc.stderr
    got = json.loads(out.read_text())
    assert got["scores"] == reference["scores"] and got["history"] == reference["history"]
