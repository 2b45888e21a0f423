# Local runs only: one warm worker (orca/runtime/warm.py) lives as long as this Snakemake run; every `orca` job
# forks from it instead of importing torch & co. again. Jobs fall back to running in-process on their own.
# orca.runtime.warm_client.start_worker sets ORCA_WORKER for the jobs this run starts (it is set by the run itself,
# so it is not an `envvars:` requirement of the workflow).
import shutil
import tempfile

from orca.runtime.warm_client import available, start_worker, stop_worker

WARM_WORKER = {}


def want_warm_worker():
    local_run = workflow.local_exec and not workflow.remote_exec and not workflow.subprocess_exec
    return config.get("warm_worker", True) and local_run and available() and shutil.which("orca") is not None


onstart:
    if want_warm_worker():
        socket_path = os.path.join(tempfile.gettempdir(), f"orca-worker-{os.getpid()}.sock")
        WARM_WORKER["process"] = start_worker(socket_path, os.path.join(LOGS, "warm_worker.log"), os.getpid())


onsuccess:
    stop_worker(WARM_WORKER.pop("process", None))


onerror:
    stop_worker(WARM_WORKER.pop("process", None))
    build_partial_tables()  # workflow/rules/report.smk: partly failed tables are built, missing cells listed
