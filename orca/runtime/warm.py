"""Warm worker: one long-lived process with torch, transformers and scikit-learn already imported that forks a
child per `orca` job, so a job skips the ~5 s its imports take on a CPU (a third of the default table's time).

    python -m orca.runtime.warm --socket PATH      serve; the workflow starts one per local run (config: warm_worker)
    ORCA_WORKER=PATH orca refine ...       the job runs in a forked child of that worker; its output, exit
                                           status and signals behave as if it ran in this process

How it works: the client connects to the worker's Unix socket and sends its argv, working folder, umask and
environment, with its stdin/stdout/stderr attached (SCM_RIGHTS). The worker forks a supervisor, which forks
the job (that child writes straight to the client's files), replies with the job's pid, waits for it and
replies with its exit status. The client forwards SIGTERM, SIGINT, SIGHUP and SIGUSR1 to the job (so
checkpoint-and-exit works as without the worker); if the client dies, the job gets SIGTERM.

Only third-party packages are preloaded: `orca` itself is imported afresh in every child, so edits to the
code take effect at once. The worker refuses a client whose Python or whose library-tuning environment
(HF_*, TRANSFORMERS_*, TORCH*, OMP_*, MKL_*, OPENBLAS_*, PYTHON*) differs from its own, and the client then
runs the job in-process, as it does when no worker answers. Caveat: Snakemake's `benchmark:` files measure
the client's CPU and memory, not the job's (wall time is right); set `warm_worker: false` to profile jobs.
"""
from __future__ import annotations

import importlib
import json
import os
import select
import signal
import socket
import sys
import tempfile
import time
import traceback

from .usage import usage_of
from .warm_client import FORWARDED_SIGNALS, HEADER, available

#: Imported once by the worker; any that is not installed is skipped.
PRELOAD = (
    "numpy", "scipy.linalg", "scipy.special", "yaml", "jsonschema", "h5py", "pandas",
    "torch", "torch.nn.functional",
    "transformers", "transformers.models.bert.modeling_bert", "transformers.models.roberta.modeling_roberta",
    "transformers.models.swin.modeling_swin",
    "sklearn.metrics", "sklearn.model_selection", "sklearn.cluster", "sklearn.linear_model", "sklearn.datasets",
    "xgboost", "ot",
)
#: Environment variables read when these libraries are imported: a client must agree with the worker on them.
IMPORT_TIME_ENV = ("HF_", "TRANSFORMERS_", "TORCH", "OMP_", "MKL_", "OPENBLAS_", "PYTHON")
#: Thread counts Snakemake sets per job: read at import time too, so the child applies them itself.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _import_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_ENV) and k not in THREAD_ENV}


def _apply_thread_env() -> None:
    """Limit BLAS, OpenMP and torch to the thread counts in this job's environment, as a fresh process would."""
    from threadpoolctl import threadpool_limits

    for key, api in (("OPENBLAS_NUM_THREADS", "blas"), ("MKL_NUM_THREADS", "blas"), ("OMP_NUM_THREADS", "openmp")):
        if os.environ.get(key, "").isdigit():
            threadpool_limits(int(os.environ[key]), user_api=api)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def _send(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = conn.recv(min(n, 1 << 16))
        if not chunk:
            raise ConnectionError("peer closed the connection mid-request")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# ----------------------------------------------------------------------------------------------- worker side
def serve(path: str, idle_timeout: float = 3600.0, parent: int | None = None) -> None:
    """Bind ``path``, preload the heavy modules, and fork a job per client until idle for ``idle_timeout`` s
    or until process ``parent`` (the Snakemake run that started the worker) is gone."""
    os.setsid()  # the terminal's Ctrl-C reaches jobs through their clients only, never twice
    started_env = _import_env(dict(os.environ))  # before preloading, which may set variables of its own
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    listener.bind(path)  # bound before preloading: early clients wait in the backlog, they do not fall back
    listener.listen(64)
    started = time.monotonic()
    loaded = preload()
    if _cuda_driver_loaded():
        _log("the CUDA driver was loaded while preloading; a forked job could not use the GPU: not serving "
             "(jobs run in their own processes)")
        listener.close()
        os.unlink(path)
        return
    _log(f"preloaded {', '.join(loaded)} in {time.monotonic() - started:.1f} s; serving {path}")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        last_job = time.monotonic()
        while time.monotonic() - last_job < idle_timeout and (parent is None or _alive(parent)):
            if not select.select([listener], [], [], 2.0)[0]:
                continue
            conn, _ = listener.accept()
            last_job = time.monotonic()
            _accept(conn, listener, started_env)
    finally:
        listener.close()
        if os.path.exists(path):
            os.unlink(path)


def preload() -> list[str]:
    """Import PRELOAD (skipping what is not installed); the names imported. Runs no computation, so no thread
    pool of torch or OpenMP exists yet when the worker forks, and asks CUDA nothing (see _cuda_driver_loaded)."""
    done = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
            done.append(name)
        except ImportError:
            pass
    return done


def _cuda_driver_loaded() -> bool:
    """True when libcuda is mapped into this process: CUDA does not survive a fork after it is initialised."""
    try:
        with open("/proc/self/maps") as maps:
            return any("libcuda.so" in line for line in maps)
    except OSError:
        return False


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] orca worker: {message}", file=sys.stderr, flush=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _accept(conn: socket.socket, listener: socket.socket, worker_env: dict[str, str]) -> None:
    """Read one request and fork its supervisor; the worker itself returns at once."""
    fds: list[int] = []
    try:
        header, fds, _flags, _addr = socket.recv_fds(conn, HEADER.size, 3)
        request = json.loads(_recv_exact(conn, HEADER.unpack(header)[0]))
        refusal = _refusal(request, worker_env)
        if refusal or len(fds) != 3:
            _send(conn, {"refused": refusal or "stdin/stdout/stderr were not passed"})
            return
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            _supervise(conn, request, fds)  # never returns
    except (OSError, ValueError, ConnectionError) as err:
        _log(f"dropped a request: {err}")
    finally:
        conn.close()
        for fd in fds:
            os.close(fd)


def _refusal(request: dict, worker_env: dict[str, str]) -> str | None:
    """Why the worker cannot run this request as the client would run it itself (None: it can)."""
    if request.get("python") != sys.executable:
        return f"client Python {request.get('python')} is not the worker's {sys.executable}"
    client, mine = _import_env(request.get("env", {})), worker_env
    differing = sorted(k for k in client.keys() | mine.keys() if client.get(k) != mine.get(k))
    if differing:
        return f"environment differs from the worker's in {', '.join(differing)}"
    return None


def _supervise(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """Fork the job, tell the client its pid, and report its exit status (negative: killed by that signal) with
    what it used (``os.wait4``'s rusage of the job alone, orca.runtime.usage).
    A client that goes away sends the job SIGTERM (it checkpoints and exits)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    started = time.time()
    pid = os.fork()
    if pid == 0:
        conn.close()
        _run_job(request, fds)  # never returns
    _log(f"job {pid} started: orca {' '.join(request['argv'])} (in {request['cwd']})")
    code = 1
    try:
        _send(conn, {"pid": pid})
        pidfd = os.pidfd_open(pid)
        while True:
            ready = select.select([conn, pidfd], [], [])[0]
            if pidfd in ready:
                break
            if not conn.recv(1):  # client gone
                _log(f"job {pid}: its client is gone; sending SIGTERM")
                os.kill(pid, signal.SIGTERM)
                break
        _pid, status, rusage = os.wait4(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        _log(f"job {pid} ended: exit status {code}")
        _send(conn, {"exit": code, "usage": usage_of(rusage, time.time() - started)})
    except OSError:
        pass
    finally:
        os._exit(0)


def _run_job(request: dict, fds: list[int]) -> None:
    """In the job's process: become the client (files, folder, environment) and run `orca argv`."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"], ORCA_IN_WORKER="1")
        tempfile.tempdir = None  # recomputed from this job's TMPDIR
        _apply_thread_env()
        sys.argv = ["orca", *request["argv"]]
        for name in [m for m in sys.modules if m == "orca" or m.startswith("orca.")]:
            del sys.modules[name]  # the job runs the code on disk now, not the worker's copy
        from orca.cli import main

        code = main(request["argv"])
    except SystemExit as stop:  # argparse: --help (0) or a usage error (2)
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 - report anything, as an uncaught exception would
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """``python -m orca.runtime.warm --socket PATH``: serve jobs until idle (the workflow starts it; see the module doc)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m orca.runtime.warm", description="serve `orca` jobs from a process with "
                                "the heavy imports done (Linux)")
    p.add_argument("--socket", required=True, help="Unix socket to listen on; clients find it in $ORCA_WORKER")
    p.add_argument("--idle-timeout", type=float, default=3600.0, help="exit after this many seconds without a job")
    p.add_argument("--parent", type=int, default=None, help="exit when this process id is gone")
    args = p.parse_args(argv)
    if not available():
        print("orca worker: error: the warm worker needs Linux (forking after importing torch is unsafe "
              "elsewhere)", file=sys.stderr)
        return 2
    serve(args.socket, idle_timeout=args.idle_timeout, parent=args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
