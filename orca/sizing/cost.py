"""``orca cost``: what each table of a config costs, from the sizing records (orca.sizing.probe) and each task's
real split sizes and epochs. Every assumption is a named number below and is printed with the table.

Per refine job: micro-batches per epoch = ceil(train rows / batch) (train rows: the training split, less the
validation carve under the ``clean`` protocol); optimizer steps = micro-batches / accum; FLOPs = epochs x
micro-batches x (FLOPs of one micro-batch, forward + backward) + the scoring passes (a forward is a third of a
forward + backward); CPU seconds at the measured rates. GPU seconds on a device class = FLOPs / (its peak at the
job's precision x UTILISATION), or the measured step time when the record was measured on that class.
Per align job: epochs x the measured epoch seconds (classes x one class step); on a GPU class the align time
is scaled by the unit's refine GPU/CPU ratio (an assumption: the align step is not FLOP-counted).
Per sources job: samples x the measured seconds per sample. Baselines (classical, CPU) are not sized.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

#: Dense peak TFLOP/s per precision (vendor data sheets: A100 SXM 40GB; H100 SXM 80GB; H200 SXM) and memory (GB).
DEVICE_CLASSES = {
    "A100-40GB": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "memory_gb": 40, "match": "A100"},
    "H100-80GB": {"fp32": 67.0, "tf32": 495.0, "bf16": 989.0, "memory_gb": 80, "match": "H100"},
    "H200-141GB": {"fp32": 67.0, "tf32": 495.0, "bf16": 989.0, "memory_gb": 141, "match": "H200"},
}
#: The classes a cost table shows unless ``--device-class`` names others.
DEFAULT_CLASSES = ("A100-40GB", "H100-80GB")
#: Share of the peak a fine-tuning step achieves (model FLOPs utilisation); a stated assumption.
UTILISATION = 0.35
#: GPU memory of a job ~ its measured peak host RSS less the process's RSS before the model was built (torch,
#: data), a stated approximation when the unit was sized on CPU.
HOST_MEMORY_GB = 24


class CostError(ValueError):
    """Cost cannot be computed: no sizing record for a table, or a record that is not one."""


def _refine_train_rows(task, protocol: str) -> int:
    train = int(task.sizes["train"])
    if protocol == "clean" and not task.sizes.get("val"):
        train -= int(round(task.data.val_fraction * train))
    return train


def _eval_rows(task, protocol: str) -> tuple[int, int]:
    """(rows scored every epoch, rows scored once at the end)."""
    test, val = int(task.sizes["test"]), task.sizes.get("val")
    if protocol == "original":
        return test, 0
    val = int(val) if val else int(round(task.data.val_fraction * int(task.sizes["train"])))
    return val, 2 * test  # the last epoch's and the best-validation weights'


def refine_cost(task, protocol: str, ref: dict, precision: str) -> dict:
    """CPU seconds, FLOPs and steps of one refine job from its unit's refine record ``ref``."""
    p = ref["precisions"].get(precision) or next(iter(ref["precisions"].values()))
    at = p["at_batch"]
    B, accum, epochs = ref["batch_size"], ref["accum"], task.refine.epochs
    micro = math.ceil(_refine_train_rows(task, protocol) / B)
    steps = micro // accum
    per_epoch_eval, final_eval = _eval_rows(task, protocol)
    flops_micro = ref["flops_per_step"] / accum
    flops_per_sample = flops_micro / B
    eval_rows = epochs * per_epoch_eval + final_eval
    flops = epochs * micro * flops_micro + eval_rows * flops_per_sample / 3
    cpu_s = epochs * (micro * at["fwd_bwd_s"] + steps * at["optimizer_s"]) + eval_rows * ref["eval_s_per_sample"]
    return {"steps": epochs * steps, "flops": flops, "cpu_s": cpu_s, "peak_mb": at["peak_rss_mb"],
            "train_flops": epochs * micro * flops_micro, "eval_flops": eval_rows * flops_per_sample / 3,
            "checkpoint_mb": ref["checkpoint"]["mb"], "checkpoint_write_s": ref["checkpoint"]["write_s"]}


def gpu_seconds(flops: float, device_class: str, precision: str) -> float:
    peak = DEVICE_CLASSES[device_class][precision if precision in ("fp32", "tf32", "bf16") else "fp32"]
    return flops / (peak * 1e12 * UTILISATION)


def _unit_records(grid, tables, sizing_dir: Path) -> dict:
    """(task, backbone) -> the sizing record of its unit (a GPU record preferred), or None."""
    import json

    from .runner import record_path
    from .shapes import sizing_units

    out: dict = {}
    for unit in sizing_units(grid, tables, grid.config.get("sizing")):
        rec = None
        for dtype in ("cuda", "cpu"):
            path = record_path(sizing_dir, unit, dtype)
            if path.is_file():
                rec = json.loads(path.read_text())
                if rec.get("kind") != "sizing":
                    raise CostError(f"{path} is not a sizing record (kind {rec.get('kind')!r}); run orca size")
                break
        for _table, task in unit.members:
            out[(task, unit.backbone)] = rec
    return out


def _measured_on(rec: dict, device_class: str) -> bool:
    device = str((rec.get("provenance") or {}).get("device_name") or (rec.get("provenance") or {}).get("device", ""))
    return DEVICE_CLASSES[device_class]["match"] in device


def job_rows(grid, table: str, records: dict, device_classes: list[str]) -> list[dict]:
    """One cost row per job of ``table`` (orca.plan.grid.Grid.table_jobs)."""
    from .shapes import sizable_aligner

    rows = []
    for job in grid.table_jobs(table):
        stage, ident = job["stage"], job["identity"]
        row = {"table": table, "stage": stage, "task": ident.get("task"),
               "backbone": ident.get("backbone"), "job": job["path"], "sized": False,
               "requested_mem_mb": job["requested"]["mem_mb"]}
        rec = _first_record(records, ident)
        if stage == "baseline":
            row["note"] = "classical baseline on CPU: not sized"
        elif rec is None:
            row["note"] = "no sizing record: run orca size"
        elif stage == "align" and not sizable_aligner(ident["method"]):
            row["note"] = (f"{ident['method']} runs its own align procedure, which orca size does not measure: "
                           "not priced")
        else:
            row.update(_sized_row(grid, stage, ident, rec, device_classes), sized=True,
                       measured_on=(rec.get("provenance") or {}).get("device", "?"))
        rows.append(row)
    return rows


def _sized_row(grid, stage: str, ident: dict, rec: dict, device_classes: list[str]) -> dict:
    """cpu_s, flops, steps, peak_mb, gpu_h_<class> (and fits_<class>) of one sized job."""
    from ..stages.controls import body_of, finetune_of

    full = rec["refine"]["full"] if "full" in rec["refine"] else next(iter(rec["refine"].values()))
    if stage == "sources":
        n = int(grid.config.get("source_max_samples", 5000))
        row = {"cpu_s": n * rec["sources"]["s_per_sample"], "steps": 0, "flops": 0.0, "peak_mb": 0.0}
        return {**row, **_gpu_by_ratio(row["cpu_s"], grid.task(rec["task"]), full, rec, device_classes)}
    task = grid.task(ident["task"])
    if stage == "align":
        al = _align_record(rec, ident["method"])
        row = {"cpu_s": task.align.epochs * al["epoch_s"] + al["prepare_s"], "steps": task.align.epochs,
               "flops": 0.0, "peak_mb": al["peak_rss_mb"]}
        return {**row, **_gpu_by_ratio(row["cpu_s"], task, full, rec, device_classes)}
    scheme = finetune_of(ident["method"], task.refine.finetune)
    ref = rec["refine"].get(scheme, full)
    precision = (task.spec.get("refine") or {}).get("precision", "fp32")
    row = {**refine_cost(task, ident["protocol"], ref, precision), "precision": precision}
    if scheme not in rec["refine"] or body_of(ident["method"]) in ("attention1", "none"):
        row["note"] = (f"priced at the measured full fine-tuning of the body ({ident['method']}: "
                       f"{scheme if scheme not in rec['refine'] else 'a replaced body'} not sized): an upper bound")
    base = rec.get("rss_before_model_mb") or 0.0
    for d in device_classes:
        if _measured_on(rec, d):  # the step time and memory measured on this class
            p = ref["precisions"].get(precision) or next(iter(ref["precisions"].values()))
            secs, mem = row["cpu_s"], p["at_batch"].get("peak_gpu_mb") or row["peak_mb"]
        else:
            secs, mem = gpu_seconds(row["flops"], d, precision), row["peak_mb"] - base
        row[f"gpu_h_{d}"] = secs / 3600
        row[f"fits_{d}"] = mem < 0.9 * DEVICE_CLASSES[d]["memory_gb"] * 1024
    row["cpu_h"] = row["cpu_s"] / 3600
    return row


def _gpu_by_ratio(cpu_s: float, task, full: dict, rec: dict, device_classes: list[str]) -> dict:
    """GPU hours of an align or sources job: its measured time x the unit's refine GPU/CPU ratio (x 1 when the
    record was measured on that class)."""
    rc = refine_cost(task, "original", full, "fp32")
    out = {"cpu_h": cpu_s / 3600}
    for d in device_classes:
        ratio = 1.0 if _measured_on(rec, d) else gpu_seconds(rc["flops"], d, "fp32") / max(rc["cpu_s"], 1e-9)
        out[f"gpu_h_{d}"] = cpu_s * ratio / 3600
    return out


def _first_record(records: dict, ident: dict):
    """The record of a job's (task, backbone); a sources job takes any record of its backbone with sources."""
    if "task" in ident:
        return records.get((ident["task"], ident.get("backbone")))
    return next((r for (t, b), r in records.items() if b == ident["backbone"] and r and r.get("sources")), None)


def _align_record(rec: dict, method: str) -> dict:
    for al in rec["align"]:
        if al["method"] == method:
            return al
    raise CostError(f"the sizing record of {rec['task']} on {rec['backbone']} has no align step for {method!r}; "
                    "run orca size again (the config changed)")


def summarise(rows: list[dict], device_classes: list[str]) -> list[dict]:
    """Totals per (table, stage) and per table."""
    out: dict = {}
    for r in rows:
        for key in ((r["table"], r["stage"]), (r["table"], "all")):
            s = out.setdefault(key, {"table": key[0], "stage": key[1], "jobs": 0, "sized": 0, "steps": 0,
                                     "pflop": 0.0, "cpu_h": 0.0, "peak_gb": 0.0, "checkpoint_gb": 0.0,
                                     **{f"gpu_h_{d}": 0.0 for d in device_classes},
                                     **{f"unfit_{d}": 0 for d in device_classes}})
            s["jobs"] += 1
            if not r["sized"]:
                continue
            s["sized"] += 1
            for d in device_classes:
                s[f"unfit_{d}"] += r.get(f"fits_{d}") is False
            s["steps"] += r.get("steps", 0)
            s["pflop"] += r.get("flops", 0.0) / 1e15
            s["cpu_h"] += r["cpu_h"]
            s["peak_gb"] = max(s["peak_gb"], r.get("peak_mb", 0.0) / 1024)
            s["checkpoint_gb"] = max(s["checkpoint_gb"], r.get("checkpoint_mb", 0.0) / 1024)
            for d in device_classes:
                s[f"gpu_h_{d}"] += r[f"gpu_h_{d}"]
    order = {"sources": 0, "align": 1, "refine": 2, "baseline": 3, "all": 4}
    return sorted(out.values(), key=lambda s: (list(dict.fromkeys(r["table"] for r in rows)).index(s["table"]),
                                               order[s["stage"]]))


def assumptions(device_classes: list[str]) -> list[str]:
    lines = [f"utilisation {UTILISATION:.0%} of the dense peak (model FLOPs utilisation of a fine-tuning step)"]
    for d in device_classes:
        c = DEVICE_CLASSES[d]
        lines.append(f"{d}: peak {c['fp32']} TFLOP/s fp32, {c['tf32']} tf32, {c['bf16']} bf16; {c['memory_gb']} GB")
    lines.append("refine FLOPs counted by torch.utils.flop_counter at the sizing micro-batch, linear in the batch; "
                 "scoring passes at a third of a training step's FLOPs per sample")
    lines.append("align and source-feature GPU time: their measured CPU time x the unit's refine GPU/CPU ratio")
    lines.append("baselines: classical models on CPU, not sized")
    lines.append("a fine-tuning scheme a record did not measure (e.g. lora) and the replaced bodies (attention1-body, "
                 "no-body): priced at the measured full fine-tuning, an upper bound (the job's note says so)")
    lines.append("align methods with a procedure of their own (e.g. recraft) and a user's methods: their align jobs are "
                 "not sized and not priced (left out of the totals; the job's note says so)")
    return lines


def write_cost(grid, tables: list[str] | None, sizing_dir: str | Path, out_dir: str | Path,
               device_classes: list[str] | None = None, log: str | Path | None = None) -> list[Path]:
    """Cost CSVs (per job, per table and stage), a Markdown summary and a plot under ``out_dir``; the summary is
    printed, or written to ``log`` when given."""
    device_classes = list(device_classes or DEFAULT_CLASSES)
    unknown = [d for d in device_classes if d not in DEVICE_CLASSES]
    if unknown:
        raise CostError(f"unknown device class {', '.join(unknown)}; allowed: {', '.join(DEVICE_CLASSES)}")
    tables = list(tables or grid.config["targets"])
    records = _unit_records(grid, tables, Path(sizing_dir))
    rows = [r for t in tables for r in job_rows(grid, t, records, device_classes)]
    summary = summarise(rows, device_classes)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [_write_csv(out / "cost_jobs.csv", rows), _write_csv(out / "cost.csv", summary)]
    md = out / "cost.md"
    md.write_text(render_markdown(summary, device_classes, sizing_dir))
    written.append(md)
    from .cost_plot import plot_cost

    written.append(plot_cost(summary, device_classes[0], out / "cost.png"))
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text(md.read_text())
    else:
        print(md.read_text())
    return written


def _write_csv(path: Path, rows: list[dict]) -> Path:
    keys: list = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    return path


def render_markdown(summary: list[dict], device_classes: list[str], sizing_dir) -> str:
    from tabulate import tabulate

    head = ["table", "stage", "jobs (sized)", "optimizer steps", "PFLOP", *[f"GPU-h {d}" for d in device_classes],
            "CPU-h (measured rate)", "peak host memory GB", "checkpoint GB",
            *[f"jobs over {d} memory" for d in device_classes]]
    body = [[s["table"], s["stage"], f"{s['jobs']} ({s['sized']})", f"{s['steps']:,}", f"{s['pflop']:.3g}",
             *[f"{s[f'gpu_h_{d}']:.3g}" for d in device_classes], f"{s['cpu_h']:.3g}", f"{s['peak_gb']:.1f}",
             f"{s['checkpoint_gb']:.2f}", *[s[f"unfit_{d}"] for d in device_classes]] for s in summary]
    total = {k: sum(s[k] for s in summary if s["stage"] == "all") for k in
             ("jobs", "sized", "steps", "pflop", "cpu_h", *[f"gpu_h_{d}" for d in device_classes])}
    body.append(["**all tables**", "all", f"{total['jobs']} ({total['sized']})", f"{total['steps']:,}",
                 f"{total['pflop']:.3g}", *[f"{total[f'gpu_h_{d}']:.3g}" for d in device_classes],
                 f"{total['cpu_h']:.3g}", "", "", *["" for _ in device_classes]])
    notes = "\n".join(f"- {a}" for a in assumptions(device_classes))
    return (f"# What the tables cost (from the sizing records in {sizing_dir})\n\n"
            + tabulate(body, head, tablefmt="github") + f"\n\nAssumptions:\n{notes}\n")
