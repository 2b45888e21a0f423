"""orca.runtime.gpus: the file-locked device pool (no GPU needed: device ids are just names here)."""
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import pytest

from orca.runtime import gpus


def _worker(pool_dir, devices, hold_s, queue):
    """Take a device, prove nobody else has it (O_EXCL marker), hold it a while, report the interval."""
    try:
        with gpus.acquire_gpu(pool_dir, devices, timeout_s=30, poll_s=0.02) as dev:
            marker = os.path.join(pool_dir, f"holder-{dev}")
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if another holder exists
            start = time.monotonic()
            time.sleep(hold_s)
            end = time.monotonic()
            os.close(fd)
            os.unlink(marker)
        queue.put(("ok", dev, start, end))
    except Exception as err:  # reported to the parent, which fails the test
        queue.put(("error", repr(err), 0.0, 0.0))


def _hold_forever(pool_dir, devices, ready):
    with gpus.acquire_gpu(pool_dir, devices) as dev:
        ready.put(dev)
        time.sleep(600)


def test_parse_devices():
    assert gpus.parse_devices(None) == []
    assert gpus.parse_devices("") == []
    assert gpus.parse_devices(" 0, 1,,2 ,1") == ["0", "1", "2"]
    with pytest.raises(ValueError):
        gpus.parse_devices("0,../x")


def test_concurrent_processes_never_share_a_device(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), ["0", "1"], 0.3, queue)) for _ in range(6)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    errors = [r for r in results if r[0] != "ok"]
    assert not errors, errors
    assert {r[1] for r in results} == {"0", "1"}  # both devices used
    for dev in ("0", "1"):
        spans = sorted((s, e) for _, d, s, e in results if d == dev)
        for (_, e1), (s2, _) in zip(spans, spans[1:]):
            assert s2 >= e1, f"device {dev} held twice at once: {spans}"
    # 6 jobs x 0.3 s on 2 devices: at least 3 rounds, so they really waited for each other.
    assert max(r[3] for r in results) - min(r[2] for r in results) >= 0.85


def test_released_on_exception(tmp_path):
    with pytest.raises(RuntimeError):
        with gpus.acquire_gpu(tmp_path, ["7"]) as dev:
            assert dev == "7"
            raise RuntimeError("job failed")
    with gpus.acquire_gpu(tmp_path, ["7"], timeout_s=0) as dev:
        assert dev == "7"


def test_busy_pool_times_out_and_nested_holders_differ(tmp_path):
    with gpus.acquire_gpu(tmp_path, ["0", "1"]) as first:
        with gpus.acquire_gpu(tmp_path, ["0", "1"]) as second:
            assert {first, second} == {"0", "1"}
            with pytest.raises(TimeoutError):
                with gpus.acquire_gpu(tmp_path, ["0", "1"], timeout_s=0.1, poll_s=0.02):
                    pass


def test_killed_holder_is_reclaimed(tmp_path):
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    holder = ctx.Process(target=_hold_forever, args=(str(tmp_path), ["3"], ready))
    holder.start()
    try:
        assert ready.get(timeout=30) == "3"
        with pytest.raises(TimeoutError):  # really held
            with gpus.acquire_gpu(tmp_path, ["3"], timeout_s=0.2, poll_s=0.02):
                pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(timeout=10)
        # the lock file is still there, but the kernel dropped the dead process's lock
        assert (tmp_path / "gpu-3.lock").exists()
        with gpus.acquire_gpu(tmp_path, ["3"], timeout_s=5, poll_s=0.02) as dev:
            assert dev == "3"
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join()


_CHILD = """
import sys
from orca.runtime.gpus import visible_devices_for_job
print(visible_devices_for_job(timeout_s=float(sys.argv[1])))
"""


def _child(env, timeout_s=0.5):
    out = subprocess.run([sys.executable, "-c", _CHILD, str(timeout_s)], env=env, capture_output=True,
                         text=True, timeout=60)
    return out.returncode, out.stdout.strip(), out.stderr


def test_visible_devices_for_job(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv(gpus.ENV_POOL_DIR, str(tmp_path))
    monkeypatch.delenv(gpus.ENV_DEVICES, raising=False)
    gpus.release_job_gpu()
    try:
        assert gpus.visible_devices_for_job() is None  # unset: do nothing
        monkeypatch.setenv(gpus.ENV_DEVICES, "")
        assert gpus.visible_devices_for_job() is None  # empty: do nothing
        monkeypatch.setenv(gpus.ENV_DEVICES, "3,5")
        assert gpus.visible_devices_for_job() == "3"
        assert gpus.visible_devices_for_job() == "3"  # held for the process: same answer
        env = dict(os.environ)
        assert _child(env)[:2] == (0, "5")  # another job gets the other device
        # this process still holds 3 and a child holding 5 has exited: the next child gets 5 again
        assert _child(env)[:2] == (0, "5")
        assert _child({**env, "SLURM_JOB_ID": "12"})[:2] == (0, "None")  # SLURM assigns GPUs itself
        gpus.release_job_gpu()
        assert _child({**env, gpus.ENV_DEVICES: "3"})[:2] == (0, "3")
    finally:
        gpus.release_job_gpu()


def test_visible_devices_for_job_waits_then_times_out(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv(gpus.ENV_POOL_DIR, str(tmp_path))
    monkeypatch.setenv(gpus.ENV_DEVICES, "0")
    with gpus.acquire_gpu(tmp_path, ["0"]):
        rc, _, err = _child(dict(os.environ), timeout_s=0.3)
        assert rc != 0 and "TimeoutError" in err
