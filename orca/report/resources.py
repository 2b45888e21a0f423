"""The resource table of one results table: what each of its jobs used, beside what it asked for.

Per job (``orca.plan.grid.Grid.table_jobs``: sources, align, refine, baseline) two measurements are read:
Snakemake's ``benchmark:`` TSV (wall seconds, max RSS and CPU seconds of the rule's process tree) and the job's
own figures (``orca --usage-out``, orca.runtime.usage: peak RSS and CPU seconds of the process that ran the
job, which under the warm worker is not in the rule's process tree). The memory a job used is the larger of the
two peaks; its runtime is the TSV's wall time. Each is compared with the job's request at its first attempt
(task file ``resources`` or ``grid.FIXED_RESOURCES``) and flagged when it used more (``over``) or far less
(``ask less``: the request is more than ``ASK_LESS_MEM`` times the memory or ``ASK_LESS_RUNTIME`` times the
runtime used). Writes ``results/NAME_resources.csv`` (one row per job) and ``reports/NAME_resources.md``.
"""
from __future__ import annotations

import io
from pathlib import Path

__all__ = ["RESOURCE_COLUMNS", "resource_frame", "resource_markdown", "build_resource_table", "resource_targets"]

ASK_LESS_MEM = 4.0  # a request above 4x the peak memory used is flagged
ASK_LESS_RUNTIME = 10.0  # runtimes vary with the machine: only a request above 10x the wall time used is flagged

RESOURCE_COLUMNS = ["stage", "task", "backbone", "method", "protocol", "seed", "status", "wall_s", "cpu_s",
                    "snakemake_max_rss_mb", "job_max_rss_mb", "used_mem_mb", "requested_mem_mb", "mem_used_pct",
                    "requested_runtime_min", "runtime_used_pct", "requested_gpus", "measured", "flag",
                    "benchmark_tsv"]


def resource_targets(table: str, results_dir: Path | str, reports_dir: Path | str) -> dict[str, Path]:
    """The files :func:`build_resource_table` writes for ``table``."""
    return {"csv": Path(results_dir) / f"{table}_resources.csv", "md": Path(reports_dir) / f"{table}_resources.md"}


def _read_tsv(path: Path) -> dict | None:
    """The one row of a Snakemake benchmark TSV (s, max_rss in MB, cpu_time in s, ...); None when absent."""
    import pandas as pd

    if not path.is_file():
        return None
    frame = pd.read_csv(path, sep="\t")
    return None if frame.empty else frame.iloc[-1].to_dict()  # --benchmark-repeats: the last repeat


def _number(value) -> float | None:
    """A TSV cell as a float (Snakemake writes '-' or NA for a figure it could not measure)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else out


def _flag(used_mem: float | None, wall_s: float | None, req: dict) -> str:
    """'over memory', 'over runtime', 'ask less memory', 'ask less runtime' (joined by '; '), or ''."""
    flags = []
    if used_mem is not None and req["mem_mb"]:
        if used_mem > req["mem_mb"]:
            flags.append("over memory")
        elif used_mem * ASK_LESS_MEM < req["mem_mb"]:
            flags.append("ask less memory")
    if wall_s is not None and req["runtime_min"]:
        if wall_s > req["runtime_min"] * 60:
            flags.append("over runtime")
        elif wall_s * ASK_LESS_RUNTIME < req["runtime_min"] * 60:
            flags.append("ask less runtime")
    return "; ".join(flags)


def resource_frame(jobs: list[dict], results_dir: Path | str):
    """One row per job of ``jobs`` (``Grid.table_jobs``) with the columns ``RESOURCE_COLUMNS``. ``status``:
    ``done`` (its TSV exists), ``failed`` (no TSV, the job's usage file has a non-zero exit status) or
    ``missing`` (neither: not run yet, or stopped before it started)."""
    import pandas as pd

    from ..runtime.usage import read_usage

    bench = Path(results_dir) / "benchmarks"
    rows = []
    for job in jobs:
        tsv_path = bench / f"{job['path']}.tsv"
        tsv = _read_tsv(tsv_path)
        usage = read_usage(bench / f"{job['path']}.usage.json") or {}
        if tsv is None and usage.get("exit_code", 0) == 0:
            usage = {}  # a success's figures without its TSV: an older run's, not this one's
        req = job["requested"]
        sm_rss = _number(tsv.get("max_rss")) if tsv else None
        job_rss = _number(usage.get("max_rss_mb"))
        peaks = [v for v in (sm_rss, job_rss) if v is not None]
        used = max(peaks) if peaks else None
        wall = _number(tsv.get("s")) if tsv else _number(usage.get("wall_s"))
        cpu = _number(usage.get("cpu_s")) if usage else (_number(tsv.get("cpu_time")) if tsv else None)
        status = "done" if tsv is not None else ("failed" if usage else "missing")
        ident = job["identity"]
        rows.append({
            "stage": job["stage"], "task": ident.get("task", ""), "backbone": ident.get("backbone", ""),
            "method": ident.get("method", ""), "protocol": ident.get("protocol", ""), "seed": ident.get("seed"),
            "status": status, "wall_s": wall, "cpu_s": cpu, "snakemake_max_rss_mb": sm_rss,
            "job_max_rss_mb": job_rss, "used_mem_mb": used, "requested_mem_mb": req["mem_mb"],
            "mem_used_pct": None if used is None else round(100 * used / req["mem_mb"], 1),
            "requested_runtime_min": req["runtime_min"],
            "runtime_used_pct": None if wall is None else round(100 * wall / (60 * req["runtime_min"]), 1),
            "requested_gpus": req.get("gpus", 0), "measured": usage.get("measured", "snakemake only" if tsv else ""),
            "flag": _flag(used, wall, req) if status == "done" else status, "benchmark_tsv": str(tsv_path),
        })
    return pd.DataFrame(rows, columns=RESOURCE_COLUMNS)


def _by_stage_and_task(frame):
    """Per (stage, task): jobs, how many done, total and largest wall time, largest peak memory, the request,
    and the flags raised (with how many jobs raised each)."""
    import pandas as pd

    out = []
    for (stage, task), g in frame.groupby(["stage", "task"], sort=False):
        flags = g.loc[g["flag"] != "", "flag"].str.split("; ").explode().value_counts()
        out.append({
            "stage": stage, "task": task or "(all)", "jobs": len(g), "done": int((g["status"] == "done").sum()),
            "wall s (total)": round(g["wall_s"].sum(), 1), "wall s (max)": g["wall_s"].max(),
            "peak MB (max)": g["used_mem_mb"].max(), "asked MB": g["requested_mem_mb"].max(),
            "asked min": g["requested_runtime_min"].max(),
            "flags": ", ".join(f"{name} x{n}" for name, n in flags.items()),
        })
    return pd.DataFrame(out)


def resource_markdown(frame, table: str, csv_name: str) -> str:
    """The resource table's Markdown: what the measurements are, totals, one row per stage x task."""
    from tabulate import tabulate

    done = frame[frame["status"] == "done"]
    lines = [f"# Resource use: {table}", "",
             f"{len(frame)} jobs, {len(done)} measured ({len(frame) - len(done)} failed or not run). Wall time: "
             f"Snakemake's benchmark TSV; peak memory: the larger of the TSV's max RSS and the job's own peak RSS "
             f"(`orca --usage-out`: under the warm worker the job runs outside the rule's process tree). Compared "
             f"with the first attempt's request (task file `resources`); flagged `over` when a job used more, "
             f"`ask less` when it asked for more than {ASK_LESS_MEM:g}x the memory or {ASK_LESS_RUNTIME:g}x the "
             f"runtime it used. One row per job: `{csv_name}`.", "",
             f"Total wall time: {done['wall_s'].sum() / 3600:.3f} h; total CPU time: "
             f"{done['cpu_s'].sum() / 3600:.3f} h; largest peak: {done['used_mem_mb'].max():g} MB.", ""]
    summary = _by_stage_and_task(frame)
    lines.append(tabulate(summary, headers="keys", tablefmt="github", showindex=False, floatfmt="g",
                          missingval=""))
    return "\n".join(lines) + "\n"


def build_resource_table(jobs: list[dict], table: str, results_dir: Path | str, reports_dir: Path | str,
                         log: str | Path | None = None) -> dict[str, Path]:
    """Write ``results/TABLE_resources.csv`` and ``reports/TABLE_resources.md`` (atomically) from the
    measurements of ``jobs`` (``Grid.table_jobs``), and a line per file written to ``log`` when given;
    returns {kind: path}."""
    from ..runtime.process import atomic_write_bytes

    frame = resource_frame(jobs, results_dir)
    targets = resource_targets(table, results_dir, reports_dir)
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g")
    texts = {"csv": buf.getvalue(), "md": resource_markdown(frame, table, targets["csv"].name)}
    for kind, path in targets.items():
        atomic_write_bytes(path, texts[kind].encode("utf-8"))
    if log is not None:
        atomic_write_bytes(Path(log), "".join(f"wrote {p}\n" for p in targets.values()).encode("utf-8"))
    return targets
