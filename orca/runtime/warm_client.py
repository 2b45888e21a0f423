"""Client side of the warm worker (``orca/runtime/warm.py``): hand an `orca` job to the worker named by $ORCA_WORKER.

The CLI calls :func:`forward_to_worker` first; it imports nothing of ``orca`` (the worker depends on the
CLI, never the reverse). The request: argv, working folder, umask and environment as JSON after a 4-byte
length, with stdin/stdout/stderr passed as file descriptors (SCM_RIGHTS); replies are JSON lines
(``{"pid": N}`` then ``{"exit": code, "usage": {...}}``, or ``{"refused": why}``).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

#: Commands worth forking from the worker (the others start fast anyway).
WARM_COMMANDS = frozenset({"standin", "fetch", "prepare", "sources", "align", "refine", "baseline"})
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
HEADER = struct.Struct("!I")  # byte length of the JSON request that follows


def available() -> bool:
    """Forking a process that has imported torch is safe on Linux; macOS's system libraries forbid it."""
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open")


def forward_to_worker(argv: list[str]) -> tuple[int, dict | None] | None:
    """Run ``orca argv`` in the worker named by $ORCA_WORKER: (its exit status, what it used as the supervisor
    measured it, orca.runtime.usage.usage_of), or None to run it here instead."""
    path = os.environ.get("ORCA_WORKER")
    if not path or not available() or os.environ.get("ORCA_IN_WORKER") or not argv or argv[0] not in WARM_COMMANDS:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:  # no worker (any more): not an error, just slower
        conn.close()
        return None
    with conn:
        umask = os.umask(0o022)
        os.umask(umask)
        request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
                              "python": sys.executable}).encode()
        try:
            socket.send_fds(conn, [HEADER.pack(len(request))], [0, 1, 2])
            conn.sendall(request)
        except OSError:  # e.g. stdin closed: nothing to pass, run here
            return None
        replies = conn.makefile("r")
        first = json.loads(replies.readline() or '{"refused": "the worker closed the connection"}')
        if "refused" in first:
            print(f"orca: warm worker refused the job ({first['refused']}); running it here", file=sys.stderr)
            return None
        return _wait_for_job(first["pid"], replies)


def _wait_for_job(pid: int, replies) -> tuple[int, dict | None]:
    """Forward signals to the job ``pid`` until the supervisor reports its exit status (shell convention) and
    what it used."""
    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, forward)
    line = replies.readline()
    if not line:
        print("orca: the warm worker's job ended without an exit status (the worker was killed?)", file=sys.stderr)
        return 1, None
    reply = json.loads(line)
    code = reply["exit"]
    return (code if code >= 0 else 128 - code), reply.get("usage")


def start_worker(socket_path: str, log_path: str, parent: int) -> subprocess.Popen:
    """Start ``python -m orca.runtime.warm`` serving ``socket_path`` (log in ``log_path``) for the run with pid ``parent``
    and set $ORCA_WORKER in this process, so the jobs it starts from now on hand themselves to the worker."""
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "orca.runtime.warm", "--socket", socket_path, "--parent",
                                    str(parent)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(50):  # it binds within a second; jobs that come earlier simply run in-process
        if os.path.exists(socket_path):
            break
        time.sleep(0.1)
    os.environ["ORCA_WORKER"] = socket_path
    return process


def stop_worker(process: subprocess.Popen | None) -> None:
    """Stop a worker from :func:`start_worker` and unset $ORCA_WORKER."""
    if process is not None:
        process.terminate()
        process.wait(timeout=30)
        os.environ.pop("ORCA_WORKER", None)
