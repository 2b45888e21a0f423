"""Measure one sizing unit (orca.sizing.shapes) at its real size: a full-size body, inputs of the real per-sample
shape through the task's own loader, the task's loss, optimizer, clipping and accumulation.

What a record holds (all measured here, on this machine and device):

- ``refine[mode][precision]``: per micro-batch ``m`` (ascending): seconds of one forward + backward
  (``fwd_bwd_s``) and of one optimizer step (``optimizer_s``), the peak RSS and GPU memory of that window (MB);
  ``at_batch``: the same at the task's real ``refine.batch_size`` B: measured when B is one of the micro-batches,
  else extrapolated linearly through the two largest (activations grow linearly with the batch; parameters,
  gradients and optimizer state are fixed), with ``scaled_from`` naming the points; ``step_s`` = accum x
  fwd_bwd_s(B) + optimizer_s: one optimizer step.
- ``flops_per_step``: forward + backward FLOPs of one optimizer step (torch.utils.flop_counter at the smallest
  micro-batch, x B / m x accum; exact for these models, whose FLOPs are linear in the batch).
- ``eval_s_per_sample`` (fp32), ``checkpoint`` (MB and seconds to write the full training state), ``parameters`` and
  ``trainable_parameters``.
- ``align[i]``: one class step of the align loop (embed the class's ``class_sample_count`` rows, mean-pool,
  distance to the source features of the real count, backward) and ``epoch_s`` = classes x that step.
- ``sources_s_per_sample``: building the backbone's source features (its input embeddings of offline samples).
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from ..runtime.memory import current_rss_mb, peaks, reset_peaks
from .bodies import folder_mb, full_size_folder
from .shapes import per_sample_shape, shape_hash

MARK = "SIZING: measurements at real shapes on stand-in values; not results"


def _sync(dev) -> None:
    if dev.type == "cuda":
        import torch

        torch.cuda.synchronize(dev)


def _now(dev) -> float:
    _sync(dev)
    return time.perf_counter()


def micro_points(batch: int, micro_batches: list[int]) -> list[int]:
    """The micro-batches to measure: the real batch alone when it is no larger than the largest allowed,
    else the allowed ones below it (ascending, at least two for the extrapolation)."""
    allowed = sorted({int(m) for m in micro_batches if int(m) >= 1})
    if not allowed:
        raise ValueError("sizing micro_batches must hold at least one batch size >= 1")
    if batch <= allowed[-1]:
        return [batch]
    points = [m for m in allowed if m < batch]
    if len(points) < 2:
        points = sorted({max(1, points[0] // 2) if points else 1, *points})
        if len(points) < 2:
            points = [1, 2] if batch > 2 else [batch]
    return points


def at_batch(measured: list[dict], batch: int, accum: int) -> dict:
    """Step time and peaks at the real ``batch`` from the measured windows (see the module docstring)."""
    last = measured[-1]
    keys = ("fwd_bwd_s", "peak_rss_mb", "peak_gpu_mb")
    if last["micro_batch"] == batch:
        out = {k: last[k] for k in keys}
        out["scaled_from"] = None
    else:
        a, b = measured[-2], measured[-1]
        span = b["micro_batch"] - a["micro_batch"]
        out = {}
        for k in keys:
            if b[k] is None:
                out[k] = None
                continue
            slope = max(0.0, (b[k] - a[k]) / span)
            out[k] = round(b[k] + slope * (batch - b["micro_batch"]), 4)
        out["scaled_from"] = [a["micro_batch"], b["micro_batch"]]
    out["optimizer_s"] = last["optimizer_s"]
    out["step_s"] = round(accum * out["fwd_bwd_s"] + out["optimizer_s"], 4)
    return out


def _train_window(tr, rows: int, m: int, precision: str, warmup: int, steps: int) -> dict:
    """``warmup + steps`` training steps at micro-batch ``m`` (repeated stand-in rows); medians of the timed ones."""
    import torch

    from ..training.optim import accumulated_backward
    from ..training.precision import precision_context
    from ..stages.common import batch_rows

    dev = tr.device
    idx = torch.arange(m) % rows
    xb, yb = batch_rows(tr.x_train, idx), tr.y_train[idx].to(dev)
    reset_peaks(dev)
    fwd_bwd, opt = [], []
    for s in range(warmup + steps):
        t0 = _now(dev)
        with precision_context(precision, dev):
            loss = tr.loss_fn(tr.forward(tr.augment(xb, 0, s).to(dev)), yb)
        accumulated_backward(loss, tr.model.parameters(), tr.cfg.clip)
        t1 = _now(dev)
        tr.optimizer.step()
        tr.optimizer.zero_grad(set_to_none=True)
        t2 = _now(dev)
        if s >= warmup:
            fwd_bwd.append(t1 - t0)
            opt.append(t2 - t1)
    peak = peaks(dev)
    return {"micro_batch": m, "fwd_bwd_s": round(statistics.median(fwd_bwd or [t1 - t0]), 4),
            "optimizer_s": round(statistics.median(opt or [t2 - t1]), 4), "peak_rss_mb": peak["rss_mb"],
            "peak_gpu_mb": peak["gpu_mb"], "rss_window": peak["rss_window"], "loss": float(loss.detach())}


def _affordable(estimate: dict, sizing: dict) -> bool:
    """Whether the real batch's extrapolated window is cheap enough to measure directly (``direct_below_mb``
    of peak RSS and ``direct_below_s`` per forward + backward)."""
    return (estimate["peak_rss_mb"] < sizing["direct_below_mb"]
            and estimate["fwd_bwd_s"] < sizing["direct_below_s"])


def _flops(tr, rows: int, m: int) -> int:
    """Forward + backward FLOPs of one micro-batch of ``m`` (fp32)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..stages.common import batch_rows

    idx = torch.arange(m) % rows
    xb, yb = batch_rows(tr.x_train, idx).to(tr.device), tr.y_train[idx].to(tr.device)
    counter = FlopCounterMode(display=False)
    with counter:
        tr.loss_fn(tr.forward(xb), yb).backward()
    tr.optimizer.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def _eval_s_per_sample(tr, x, rows: int) -> float:
    """Seconds per sample of the scoring forward pass (a warm-up call, then one timed call of ``rows``)."""
    from ..stages.refine import predict

    dev = tr.device
    n = min(rows, len(x))
    predict(tr.model, x[:n], n, dev)
    t0 = _now(dev)
    predict(tr.model, x[:n], n, dev)
    return round((_now(dev) - t0) / n, 5)


def _checkpoint(tr) -> dict:
    """Write the full training state once (the refine checkpoint: model, optimizer, schedule, RNG states)."""
    t0 = time.perf_counter()
    tr.ckpt.save(tr.snapshot())
    write_s = time.perf_counter() - t0
    size = tr.ckpt.path.stat().st_size / 2**20
    tr.ckpt.remove()
    return {"mb": round(size, 1), "write_s": round(write_s, 3)}


def size_refine(run, body_folder: str, mode: str, sizing: dict, ckpt_dir: Path, log=print) -> dict:
    """The refine measurements of one fine-tuning scheme (``full``, ``frozen`` or ``lora``: refine.finetune) of
    ``run`` (a StageSetup)."""
    from ..model.backbones import load_body
    from ..model.network import build_model, output_shape
    from ..spec.protocols import get_protocol
    from ..model.finetune import apply_finetune
    from ..stages.refine import _training
    from ..training.checkpoint import Checkpointer
    from ..data.taskdata import num_outputs

    task, data, job = run.task, run.data, run.job
    body = load_body(job.job["backbone"], pretrained=True, dropout=task.body.dropout, weights=body_folder,
                     attention=task.body.attention)
    apply_finetune(body, mode, task.refine.lora)
    k = num_outputs(task, data.y_train, data.info)
    model = build_model(body, task.input.modality, data.sample_shape, task.embedder, task.output.kind,
                        output_shape(task.output.kind, k, data.y_train.shape[1:]), transfer=True).to(run.device)
    ckpt = Checkpointer(ckpt_dir, f"size-{task.name}-{job.job['backbone']}-{mode}", 0)
    tr = _training(task, run, model, k, 0, ckpt, f"size {task.name}", log, get_protocol("original"))
    cfg, rows = task.refine, len(data.y_train)
    points = micro_points(cfg.batch_size, sizing["micro_batches"])
    out = {"parameters": sum(p.numel() for p in model.parameters()),
           "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
           "batch_size": cfg.batch_size, "accum": cfg.accum, "eval_batch_size": cfg.eval_batch_size,
           "optimizer": cfg.optimizer, "precisions": {}}
    _train_window(tr, rows, points[0], "fp32", 1, 0)  # first-step costs (optimizer state, allocator) outside the windows
    for precision in sizing["precisions"]:
        measured = []
        for m in points:
            log(f"  refine {mode} {precision} micro-batch {m}")
            measured.append(_train_window(tr, rows, m, precision, sizing["warmup_steps"], sizing["steps"]))
        estimate = at_batch(measured, cfg.batch_size, cfg.accum)
        if estimate["scaled_from"] and _affordable(estimate, sizing):  # the real batch fits: measure it
            log(f"  refine {mode} {precision} batch {cfg.batch_size} (the real one: it fits)")
            measured.append(_train_window(tr, rows, cfg.batch_size, precision,
                                          sizing["warmup_steps"], sizing["steps"]))
            estimate = at_batch(measured, cfg.batch_size, cfg.accum)
        out["precisions"][precision] = {"measured": measured, "at_batch": estimate}
    m0 = points[0]
    out["flops_per_step"] = int(_flops(tr, rows, m0) / m0 * cfg.batch_size * cfg.accum)
    out["flops_counted_at"] = m0
    out["eval_s_per_sample"] = _eval_s_per_sample(tr, data.x_test, sizing["eval_rows"])
    out["checkpoint"] = _checkpoint(tr)
    return out


def size_align(run, init, method: str, solver: str, sizing: dict, num_source: int) -> dict:
    """One class step of the align loop for ``method`` with ``solver`` and the epoch it makes."""
    import torch

    from ..methods import get_method, resolve_settings
    from ..model.embedders import build_embedder
    from ..stages.align import class_sample_count
    from ..stages.common import batch_rows, training_inputs

    task, data, dev = run.task, run.data, run.device
    cfg, sizes = task.align, task.sizes
    classes = _align_classes(task, data)
    count = class_sample_count(max(1, sizes["train"] // classes), cfg.batch_size, cfg.maxsamples)
    embedder = build_embedder(task.input.modality, data.sample_shape, init, task.embedder, transfer=True).to(dev)
    gen = torch.Generator().manual_seed(0)
    src_x = torch.randn(num_source, init.width, generator=gen)
    src_y = torch.randint(0, 10, (num_source,), generator=gen)
    reset_peaks(dev)
    t0 = _now(dev)
    distance = get_method(method).make_aligner(solver=solver, **resolve_settings(method, task.name))
    distance.prepare(src_x.to(dev), src_y.to(dev))
    prepare_s = _now(dev) - t0
    x = training_inputs(data.x_train)
    xb = batch_rows(x, torch.arange(count) % len(data.y_train)).to(dev)
    target_y = torch.zeros(count, dtype=torch.long, device=dev)
    times = []
    for s in range(sizing["warmup_steps"] + sizing["align_steps"]):
        t0 = _now(dev)
        tokens, _ = embedder(xb)
        distance(tokens.mean(dim=1), target_y).backward()
        if s >= sizing["warmup_steps"]:
            times.append(_now(dev) - t0)
    step = statistics.median(times)
    peak = peaks(dev)
    return {"method": method, "solver": solver, "classes": classes, "class_rows": count, "num_source": num_source,
            "prepare_s": round(prepare_s, 4), "class_step_s": round(step, 4), "epoch_s": round(classes * step, 4),
            "peak_rss_mb": peak["rss_mb"], "peak_gpu_mb": peak["gpu_mb"]}


def _align_classes(task, data) -> int:
    """Classes one align epoch visits: the task's classes, else align.pseudo_labels k-means clusters."""
    from ..data.taskdata import num_outputs

    if task.output.kind == "classification":
        return int((task.spec.get("sizes") or {}).get("classes") or num_outputs(task, data.y_train, data.info))
    return int(task.align.pseudo_labels)


def size_sources(backbone: str, body_folder: str, rows: int, data_dir: Path) -> dict:
    """Seconds per sample of building ``backbone``'s source features (offline samples of the same shape)."""
    from ..model.backbones import load_body
    from ..stages.sources import build_source_features

    body = load_body(backbone, pretrained=True, weights=body_folder)
    t0 = time.perf_counter()
    feats = build_source_features(backbone, max_samples=rows, body=body, image_source="photos", data_dir=data_dir)
    n = len(feats["xs"])
    return {"s_per_sample": round((time.perf_counter() - t0) / n, 5), "rows": n, "width": int(feats["xs"].shape[1])}


def unit_data(task, data_dir: Path, rows: int, log=print):
    """The task's training and test split as its own loader reads them from stand-ins in the real layout,
    ``rows`` training samples. The inputs are replaced by random values of the real per-sample shape when the
    stand-in's differs (a tabular row's length is the data's, ``sizes.features``), and a loader without a
    stand-in writer gets random arrays of the real shapes; the returned note says which."""
    from ..rehearsal.registry import WRITERS
    from ..rehearsal.standins import _load_writers, writer_key

    _load_writers()
    real = tuple(per_sample_shape(task))
    if writer_key(task) not in WRITERS:
        note = f"random arrays of the real shape {list(real)} (no stand-in writer for {writer_key(task)})"
        log(f"  inputs: {note}")
        return synthetic_split(task, real, rows), note
    data = _standin_split(task, data_dir, rows)
    if tuple(data.sample_shape) == real:
        return data, "stand-in values in the real layout, read by the task's loader"
    note = f"random values of the real shape {list(real)} (the stand-in's was {list(data.sample_shape)})"
    rng = np.random.default_rng(0)
    data.x_train = rng.normal(size=(len(data.y_train), *real)).astype(np.float32)
    data.x_test = rng.normal(size=(len(data.y_test), *real)).astype(np.float32)
    log(f"  inputs: {note}")
    return data, note


def _standin_split(task, data_dir: Path, rows: int):
    """Stand-ins written, prepared, fetched and loaded as a rehearsal does (orca.rehearsal)."""
    from ..data import fetch
    from ..data.preparation.prepare import prepare_task
    from ..data.taskdata import prepare_split
    from ..rehearsal.standins import Size, write_standins

    write_standins(task, data_dir, Size(train=rows, test=max(4, rows // 4)))
    if task.prepare:
        prepare_task(task, data_dir)
    fetch(task.data.loader, task.data.args, data_dir)
    return prepare_split(task, 0, data_dir, validation=False)


def synthetic_split(task, shape: tuple, rows: int):
    """A SplitData of random inputs (rows, *shape) and targets of the task's kind (classification: ids below
    ``output.num_outputs`` or ``sizes.classes``; regression: (rows, num_outputs)); dense targets need a writer."""
    from ..data.taskdata import SplitData

    rng = np.random.default_rng(0)
    kind, k = task.output.kind, task.output.num_outputs or (task.sizes or {}).get("classes")
    if kind == "dense" or not k:
        raise ValueError(f"{task.path}: sizing without a stand-in writer needs output.num_outputs (or "
                         "sizes.classes) and a non-dense output; add a stand-in writer in orca/rehearsal/")
    rows = max(rows, int(k)) if kind == "classification" else rows  # every class in the training rows
    n_test = max(4, rows // 4)

    def targets(n: int) -> np.ndarray:
        if kind == "classification":
            return (np.arange(n) % int(k)).astype(np.int64)
        return rng.normal(size=(n, int(k))).astype(np.float32)

    def inputs(n: int) -> np.ndarray:
        return rng.normal(size=(n, *shape)).astype(np.float32)

    empty_x, empty_y = inputs(0), targets(0)
    return SplitData(inputs(rows), targets(rows), empty_x, empty_y, inputs(n_test), targets(n_test), {})


def run_unit(job, data_dir: Path, cache_dir: Path, device: str | None = None, log=print) -> dict:
    """Measure sizing unit ``job`` (stage ``size``); returns its record (see the module docstring)."""
    from ..runtime.process import pick_device, provenance, seed_everything
    from ..stages.common import StageSetup

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one line per window instead of a bar per weight file
    started = time.time()
    task, backbone, sizing = job.task, job.job["backbone"], job.get("sizing")
    dev = pick_device(device)
    gen = seed_everything(0)
    rows = max(max(sizing["micro_batches"]), task.refine.batch_size if task.refine.batch_size <= max(
        sizing["micro_batches"]) else 0, sizing["eval_rows"], 4)
    data, inputs = unit_data(task, Path(data_dir), rows, log)
    run = StageSetup(job, dev, gen, data, started)
    before = current_rss_mb()  # torch, transformers and the data loaded; no model yet
    folder = full_size_folder(backbone, cache_dir)
    record = {"kind": "sizing", "mark": MARK, "task": task.name, "backbone": backbone, "inputs": inputs,
              "per_sample_shape": list(data.sample_shape), "sizes": task.spec.get("sizes"),
              "body_folder_mb": folder_mb(folder), "rss_before_model_mb": before, "settings_hash": job.settings_hash,
              "shape_hash": shape_hash(job), "job": job.to_json()}
    modes = sorted(job.get("modes"), key=lambda m: m != "full")  # full first: the summary's line
    record["refine"] = {mode: size_refine(run, str(folder), mode, sizing, Path(cache_dir) / "sizing" / "checkpoints",
                                          log) for mode in modes}
    if job.get("aligners"):
        from ..model.backbones import load_body

        init = load_body(backbone, pretrained=True, weights=str(folder)).embedding_init()
        num_source = min(int(job.get("source_max_samples")), int(task.align.max_source or 10**9))
        record["align"] = [size_align(run, init, m, s, sizing, num_source) for m, s in job.get("aligners")]
        record["sources"] = size_sources(backbone, str(folder), sizing["source_rows"], Path(data_dir))
    else:
        record["align"], record["sources"] = [], None
    record["wall_s"] = round(time.time() - started, 2)
    record["provenance"] = provenance(dev)  # kind "sizing" marks the record (never a result)
    return record
