"""The warm worker (orca/runtime/warm.py): jobs forked from it behave exactly like jobs run in their own process."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orca.training.checkpoint import EXIT_PREEMPTED
from orca.runtime.warm_client import available
from tests import test_resume
from tests.test_resume import interrupt, orca_cmd, run

# fixtures shared with test_resume: a tiny RoBERTa task and its in-process align + refine (the reference)
env, reference = test_resume.env, test_resume.reference

pytestmark = pytest.mark.skipif(not available(), reason="the warm worker needs Linux")


def start_worker(socket_path: Path, environ: dict, parent: int | None = None) -> subprocess.Popen:
    log = open(socket_path.with_suffix(".log"), "w")  # noqa: SIM115 - the worker writes it while it lives
    cmd = [sys.executable, "-m", "orca.runtime.warm", "--socket", str(socket_path), "--idle-timeout", "600"]
    proc = subprocess.Popen(cmd + (["--parent", str(parent)] if parent else []), env=environ, stdout=log,
                            stderr=subprocess.STDOUT)
    wait_for(lambda: "serving" in socket_path.with_suffix(".log").read_text(), 120, "the worker to preload")
    return proc


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def warm(env, reference):
    """(root, client environment, worker log) with a worker serving for this module."""
    root, e = env
    socket_path = root / "w.sock"
    proc = start_worker(socket_path, e)
    yield root, {**e, "ORCA_WORKER": str(socket_path)}, socket_path.with_suffix(".log")
    proc.terminate()
    proc.wait(timeout=30)
    assert not socket_path.exists(), "the worker left its socket behind"


def test_refine_through_the_worker_gives_the_in_process_scores(warm, reference):
    root, e, log = warm
    out = root / "warm.json"
    proc = run(orca_cmd(root, "refine", out), e)
    assert "refused" not in proc.stderr
    assert "refine --task ecg5000" in log.read_text() and "exit status 0" in log.read_text()
    got = json.loads(out.read_text())
    assert got["scores"] == reference["scores"] and got["history"] == reference["history"]
    assert "val " in proc.stdout + proc.stderr, "the job's output must reach the client's stdout/stderr"


def test_signal_to_the_client_reaches_the_job_which_checkpoints_and_resumes(warm, reference):
    root, e, _ = warm
    out = root / "warm-term.json"
    assert interrupt(orca_cmd(root, "refine", out), e, "epoch 3/8", signal.SIGTERM) == EXIT_PREEMPTED
    assert not out.exists()
    proc = run(orca_cmd(root, "refine", out), e)
    assert "resuming at epoch" in proc.stdout + proc.stderr
    assert json.loads(out.read_text())["scores"] == reference["scores"]


def test_a_killed_client_stops_its_job(warm):
    root, e, log = warm
    out = root / "warm-orphan.json"
    told, preempted = (log.read_text().count(s) for s in ("its client is gone", f"exit status {EXIT_PREEMPTED}"))
    assert interrupt(orca_cmd(root, "refine", out), e, "epoch 2/8", signal.SIGKILL) == -signal.SIGKILL
    wait_for(lambda: log.read_text().count("its client is gone") > told, 60, "the job to be told")
    wait_for(lambda: log.read_text().count(f"exit status {EXIT_PREEMPTED}") > preempted, 60, "the job to checkpoint")
    assert not out.exists()


def test_bad_arguments_exit_2_with_the_usage_on_the_clients_stderr(warm):
    _, e, _ = warm
    proc = subprocess.run([sys.executable, "-m", "orca", "refine", "--bogus"], env=e, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "usage: orca refine" in proc.stderr


def test_a_differing_library_environment_runs_the_job_in_process(warm, reference):
    root, e, _ = warm
    out = root / "warm-refused.json"
    proc = run(orca_cmd(root, "refine", out), {**e, "HF_HUB_OFFLINE": "1" if e.get("HF_HUB_OFFLINE") != "1" else "0"})
    assert "refused the job (environment differs from the worker's in HF_HUB_OFFLINE)" in proc.stderr
    assert json.loads(out.read_text())["scores"] == reference["scores"]


def test_no_worker_at_the_socket_runs_the_job_in_process(env, tmp_path):
    root, e = env
    out = tmp_path / "cold.json"
    proc = subprocess.run(orca_cmd(root, "refine", out), env={**e, "ORCA_WORKER": str(tmp_path / "none.sock")},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and out.exists(), proc.stderr[-2000:]


def test_the_worker_exits_with_its_parent_and_removes_its_socket(tmp_path):
    parent = subprocess.Popen(["sleep", "600"])
    socket_path = tmp_path / "p.sock"
    worker = start_worker(socket_path, dict(os.environ), parent=parent.pid)
    assert socket_path.exists()
    parent.kill()
    parent.wait()
    assert worker.wait(timeout=30) == 0
    assert not socket_path.exists()


def test_a_worker_that_loaded_the_cuda_driver_does_not_serve(tmp_path):
    socket_path = tmp_path / "c.sock"
    code = ("import orca.runtime.warm as w; w.preload = lambda: []; w._cuda_driver_loaded = lambda: True; "
            f"w.serve({str(socket_path)!r})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "not serving" in proc.stderr
    assert not socket_path.exists()


def test_every_job_the_rules_start_goes_to_the_worker_except_the_report_and_sizing():
    """A rule's `orca <command>` pays ~5 s of imports outside the worker (README: Warm worker). A sizing unit
    (`orca size-unit`) runs in a fresh process on purpose: its peak RSS must be its own, not a fork of the
    worker's preloaded torch (docs/sizing.md)."""
    import re

    from orca.runtime.warm_client import WARM_COMMANDS

    rules = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    command = re.compile(r'"orca (?:--usage-out \S+ )?([\w-]+)')  # the rules measure their jobs (--usage-out)
    called = {m for f in rules.glob("*.smk") for m in command.findall(f.read_text())}
    assert called - {"report", "size-unit"} <= WARM_COMMANDS, called - WARM_COMMANDS
    assert "size-unit" not in WARM_COMMANDS
    assert {"standin", "fetch", "prepare", "align", "refine", "baseline", "sources"} <= called


def test_usage_out_reports_the_forked_jobs_use_not_the_clients(warm):
    """Under the worker, --usage-out holds the job's own figures (os.wait4 of the forked job): its peak RSS includes
    the preloaded torch (hundreds of MB), which the thin client never imports."""
    root, e, _ = warm
    usage_file = root / "warm-usage.json"
    out = root / "warm-usage-run.json"
    cmd = orca_cmd(root, "refine", out)
    cmd[3:3] = ["--usage-out", str(usage_file)]  # `python -m orca --usage-out F refine ...`
    run(cmd, e)
    used = json.loads(usage_file.read_text())
    assert used["measured"].startswith("warm worker") and used["exit_code"] == 0 and used["command"] == "refine"
    assert used["max_rss_mb"] > 200, used  # torch is in the job's process
    assert used["cpu_s"] > 0 and used["wall_s"] > 0
