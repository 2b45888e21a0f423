"""Run a stage on a loaded Task the way `orca <stage> --task ...` does: resolve the job's settings document
(orca.spec.jobs.resolve_job), then call the stage with it and its JobIO. The tests' one way into the stages."""
from __future__ import annotations

from pathlib import Path

from orca.spec.jobs import job_extras, resolve_job
from orca.stages.common import JobIO


def job_for(task, stage: str, backbone: str | None = None, method: str | None = None, seed: int = 0,
            protocol: str = "clean", mode: str = "real", weights: str | None = None):
    from orca.spec.jobs import IDENTITY

    values = {"task": task.name, "backbone": backbone, "method": method, "protocol": protocol, "seed": seed}
    return resolve_job(stage, {k: values[k] for k in IDENTITY[stage]}, mode, task, job_extras(stage, weights))


def _path(p):
    return Path(p) if p is not None else None


def run_refine(task, backbone, method, seed, out_path, data_dir, embedder_path=None, device=None, body=None,
               log=print, checkpoint_dir=None, protocol="clean", checkpoint_every_s=None, mode="real"):
    import orca.stages.refine as refine_mod

    io = JobIO(Path(out_path), Path(data_dir), device, _path(checkpoint_dir), checkpoint_every_s,
               embedder=_path(embedder_path))
    return refine_mod.run_refine(job_for(task, "refine", backbone, method, seed, protocol, mode), io, body=body, log=log)


def run_align(task, backbone, method, seed, source_path, out_dir, data_dir, device=None, body=None, log=print,
              checkpoint_dir=None, embeddings=None, protocol="clean", checkpoint_every_s=None, mode="real"):
    import orca.stages.align as align_mod

    io = JobIO(Path(out_dir), Path(data_dir), device, _path(checkpoint_dir), checkpoint_every_s,
               source=_path(source_path), embeddings=_path(embeddings))
    return align_mod.run_align(job_for(task, "align", backbone, method, seed, protocol, mode), io, body=body, log=log)


def run_baseline(task, method, seed, out_path, data_dir):
    import orca.stages.baselines as baselines_mod

    return baselines_mod.run_baseline(job_for(task, "baseline", method=method, seed=seed),
                                      JobIO(Path(out_path), Path(data_dir)))


def task_settings(task, stage: str) -> dict:
    """The task sections a ``stage`` job's settings hold (what its cache key names of the task)."""
    from orca.spec.jobs import TASK_PATHS, cut

    return cut(task.spec, TASK_PATHS[stage])


def job_hash(task, stage: str) -> str:
    """The settings hash of a fixed job of ``stage`` on ``task`` (roberta-base, method none / xgboost, seed 0)."""
    method = "xgboost" if stage == "baseline" else "none"
    return job_for(task, stage, "roberta-base", method, 0).settings_hash
