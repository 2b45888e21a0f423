# Local runs only: one warm worker (orca/warm.py) lives as long as this Snakemake run; every `orca` job
# forks from it instead of importing torch & co. again. Jobs fall back to running in-process on their own.
import shutil
import subprocess
import tempfile
import time

WARM_WORKER = {}


def want_warm_worker():
    from orca.warm import available

    local_run = workflow.local_exec and not workflow.remote_exec and not workflow.subprocess_exec
    return config.get("warm_worker", True) and local_run and available() and shutil.which("orca") is not None


onstart:
    if want_warm_worker():
        socket_path = os.path.join(tempfile.gettempdir(), f"orca-worker-{os.getpid()}.sock")
        os.makedirs(LOGS, exist_ok=True)
        with open(os.path.join(LOGS, "warm_worker.log"), "w") as log:
            WARM_WORKER["process"] = subprocess.Popen(
                [shutil.which("orca"), "worker", "--socket", socket_path, "--parent", str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(50):  # it binds within a second; jobs that come earlier simply run in-process
            if os.path.exists(socket_path):
                break
            time.sleep(0.1)
        os.environ["ORCA_WORKER"] = socket_path


def stop_warm_worker():
    process = WARM_WORKER.pop("process", None)
    if process is not None:
        process.terminate()
        process.wait(timeout=30)
        os.environ.pop("ORCA_WORKER", None)


onsuccess:
    stop_warm_worker()


onerror:
    stop_warm_worker()
