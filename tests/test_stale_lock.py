"""scripts/check_lock.py: a Snakemake lock left by a killed run is reported with the command that clears it.

A lock with no snakemake running in its folder -> a message naming the lock files and `snakemake --unlock`,
exit 2; no lock, or a snakemake (any process with "snakemake" in its command line) running there -> None,
exit 0. Last, the real thing: a real `snakemake` killed with SIGKILL mid-run, then `--unlock`.
"""
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "check_lock.py"

pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")


def _load():
    spec = importlib.util.spec_from_file_location("check_lock", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_lock = _load()


def _lock(workdir: Path, *names: str) -> None:
    locks = workdir / ".snakemake" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    for name in names or ("0.input.lock",):
        (locks / name).write_text(str(workdir / "some-file"))


def _run_script(cwd: Path, *args: str, shell_prefix: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), *args]
    if shell_prefix:  # as make runs a recipe line `python scripts/check_lock.py && snakemake`
        cmd = ["sh", "-c", f"'{sys.executable}' '{SCRIPT}' && echo snakemake would run now"]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=30)


def _wait_for_cmdline(pid: int, needle: bytes, timeout_s: float = 10) -> None:
    """Until the child has exec'd (before that its cmdline is still ours)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if needle in Path(f"/proc/{pid}/cmdline").read_bytes():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never showed {needle!r} in its command line")


def test_stale_lock_named_with_unlock_command(tmp_path, monkeypatch):
    _lock(tmp_path)
    monkeypatch.chdir(tmp_path)
    message = check_lock.stale_lock_message(tmp_path)
    assert message is not None
    assert ".snakemake/locks/0.input.lock" in message
    assert ".venv/bin/snakemake --unlock" in message
    assert "killed" in message
    assert "\n" not in message  # one paragraph

    proc = _run_script(tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert ".snakemake/locks/0.input.lock" in proc.stderr and "snakemake --unlock" in proc.stderr
    assert proc.stdout == ""


def test_every_lock_file_is_named_and_other_folder_gets_cd(tmp_path):
    _lock(tmp_path, "0.input.lock", "0.output.lock", "1.output.lock")
    message = check_lock.stale_lock_message(tmp_path)  # pytest's cwd is not tmp_path
    for name in ("0.input.lock", "0.output.lock", "1.output.lock"):
        assert f".snakemake/locks/{name}" in message
    assert f"cd {tmp_path} && .venv/bin/snakemake --unlock" in message
    proc = _run_script(REPO, str(tmp_path))  # the folder as an argument
    assert proc.returncode == 2 and "1.output.lock" in proc.stderr


def test_no_lock_is_quiet(tmp_path):
    assert check_lock.stale_lock_message(tmp_path) is None
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)  # an empty lock folder is no lock
    assert check_lock.stale_lock_message(tmp_path) is None
    proc = _run_script(tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_lock_of_a_running_snakemake_is_not_stale(tmp_path):
    _lock(tmp_path, "0.input.lock", "0.output.lock")
    dummy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "snakemake-dummy"], cwd=tmp_path)
    try:
        _wait_for_cmdline(dummy.pid, b"snakemake-dummy")
        assert check_lock.snakemake_pids(tmp_path) == [dummy.pid]
        assert check_lock.stale_lock_message(tmp_path) is None
        proc = _run_script(tmp_path)
        assert (proc.returncode, proc.stderr) == (0, "")
    finally:
        dummy.kill()
        dummy.wait()
    # the same lock once that process is gone: stale
    assert check_lock.stale_lock_message(tmp_path) is not None


def test_snakemake_in_another_folder_does_not_count(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    _lock(work)
    dummy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "snakemake-dummy"], cwd=elsewhere)
    try:
        _wait_for_cmdline(dummy.pid, b"snakemake-dummy")
        assert check_lock.stale_lock_message(work) is not None
    finally:
        dummy.kill()
        dummy.wait()


def test_the_shell_make_starts_is_not_taken_for_a_running_snakemake(tmp_path):
    """make runs `python scripts/check_lock.py && snakemake` through `sh -c`: that shell names snakemake and sits
    in the folder, but it is the script's own parent, not a run holding the lock."""
    _lock(tmp_path)
    proc = _run_script(tmp_path, shell_prefix=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "snakemake --unlock" in proc.stderr
    assert "would run now" not in proc.stdout


def test_vanished_and_unreadable_proc_entries_are_skipped(tmp_path):
    """A fake /proc: entries without cmdline (the process ended), with a cwd that is not a link or points
    nowhere, a snakemake elsewhere, a non-snakemake process in the folder; only the last entry counts."""
    work = tmp_path / "work"
    work.mkdir()
    _lock(work)
    proc = tmp_path / "proc"

    def entry(name, cmdline=None, cwd=None, cwd_file=False):
        d = proc / name
        d.mkdir(parents=True)
        if cmdline is not None:
            (d / "cmdline").write_bytes(b"\0".join(cmdline) + b"\0")
        if cwd is not None:
            (d / "cwd").symlink_to(cwd)
        if cwd_file:
            (d / "cwd").write_text("not a link")

    entry("self", [b"snakemake"], work)               # not a pid
    entry("101")                                      # vanished: nothing left to read
    entry("102", [b"snakemake", b"-c1"])              # cwd gone
    entry("103", [b"snakemake"], cwd_file=True)       # cwd not readable as a link
    entry("104", [b"snakemake"], tmp_path / "nowhere")
    entry("105", [b"python", b"-m", b"http.server"], work)
    (proc / "106").write_text("a file, not a folder")
    assert check_lock.snakemake_pids(work, proc=proc, exclude=set()) == []
    assert check_lock.stale_lock_message(work, proc=proc) is not None

    entry("107", [b"/usr/bin/python3", b"/venv/bin/snakemake", b"--cores", b"2"], work)
    assert check_lock.snakemake_pids(work, proc=proc, exclude=set()) == [107]
    assert check_lock.snakemake_pids(work, proc=proc, exclude={107}) == []
    assert check_lock.stale_lock_message(work, proc=proc) is None

    # no /proc at all (not Linux): never called stale
    assert check_lock.stale_lock_message(work, proc=tmp_path / "no-proc") is None


def test_makefile_checks_the_lock_before_snakemake():
    """Every Makefile target whose recipe runs $(BIN)/snakemake runs check_lock.py first."""
    lines = (REPO / "Makefile").read_text().splitlines()
    checked = []
    for start, line in enumerate(lines):
        if not line or line[0] in "\t #" or ":" not in line or "=" in line:
            continue
        target = line.split(":")[0]
        recipe = []
        for body in lines[start + 1:]:
            if not body.startswith("\t"):
                break
            recipe.append(body)
        calls = [i for i, body in enumerate(recipe) if "$(BIN)/snakemake" in body]
        if calls:
            checks = [i for i, body in enumerate(recipe) if "scripts/check_lock.py" in body]
            assert checks and checks[0] < calls[0], f"make {target}: check_lock.py must run before snakemake"
            checked.append(target)
    assert "table" in checked


def test_real_snakemake_killed_leaves_a_lock_that_is_reported(tmp_path):
    """A real run killed with SIGKILL mid-job: its lock is real while it runs, stale after; --unlock clears it."""
    snakemake = Path(sys.executable).parent / "snakemake"
    if not snakemake.exists():
        pytest.skip("no snakemake next to this interpreter")
    (tmp_path / "in.txt").write_text("x\n")
    (tmp_path / "Snakefile").write_text(
        'rule all:\n    input: "in.txt"\n    output: "out.txt"\n    shell: "sleep 60; cp {input} {output}"\n')
    env = {k: v for k, v in os.environ.items() if k != "SNAKEMAKE_PROFILE"}
    env["PATH"] = f"{snakemake.parent}{os.pathsep}{env.get('PATH', '')}"
    run = subprocess.Popen([str(snakemake), "--cores", "1", "--workflow-profile", "none"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not check_lock.lock_files(tmp_path):
            if run.poll() is not None:
                pytest.fail(f"snakemake ended ({run.returncode}) before it took its lock")
            if time.monotonic() > deadline:
                pytest.skip("snakemake took no lock within 20 s (machine too slow for this check)")
            time.sleep(0.1)
        time.sleep(0.5)  # let it finish writing both lock kinds
        assert check_lock.stale_lock_message(tmp_path) is None  # the run is alive: its lock is real
        os.killpg(run.pid, signal.SIGKILL)  # kill -9 of the run and its job, as a power loss would
        run.wait(timeout=10)
    finally:
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        run.wait(timeout=10)

    names = {p.name for p in check_lock.lock_files(tmp_path)}
    assert {"0.input.lock", "0.output.lock"} <= names
    proc = _run_script(tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert ".snakemake/locks/0.input.lock" in proc.stderr and "snakemake --unlock" in proc.stderr

    # what the message says to run works, and afterwards the check is quiet
    unlock = subprocess.run([str(snakemake), "--unlock", "--workflow-profile", "none"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr
    assert check_lock.lock_files(tmp_path) == []
    assert _run_script(tmp_path).returncode == 0
