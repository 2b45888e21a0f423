"""The align stage: train only the embedder so embedded target data gets close to the source features.

One epoch (the paper's loop): visit the classes in random order; for each class embed a random
draw of its training samples (as many as ORCA's loader batches of ``align.batch_size`` give until
more than ``maxsamples`` are collected: ``class_sample_count``), mean-pool over tokens, add
``weight_c * d(source, class)`` and backpropagate (a class with a single sample is skipped); then take
one optimizer step and one scheduler step. ``weight_c`` is the class's share of the training set, so
the epoch's distance is a class-weighted average. Tasks without classes use k-means pseudo-labels of
their targets. The optimizer is the task's own (align.optimizer, weight_decay, momentum, betas default
to refine's) at ``align.lr`` (default: ``orca.training.optim.align_lr`` of refine.lr); the schedule is
``align.scheduler`` (default ORCA's StepLR lambda, milestones 20, 40, 60, base 0.2).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..training.checkpoint import Checkpointer, Preempted, StopFlag
from ..data.targets import fill_ignored
from ..methods import get_method
from ..model.backbones import EmbeddingInit, load_body
from ..model.embedders import build_embedder
from ..training.optim import LRSchedule, make_optimizer
from ..spec.jobs import JobSettings
from ..spec.protocols import align_solver, get_protocol
from ..training.progress import epoch_line, start_clock
from ..runtime.process import atomic_torch_save, atomic_write_json, provenance
from .sources import cluster_labels, load_source
from ..spec.tasks import Task
from .common import JobIO, batch_rows, resume, setup, snapshot, training_inputs


def align_labels(task: Task, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Class ids for the class-wise loop: the labels, or k-means clusters of the targets (N,) int64
    (targets the task ignores, ``output.ignore``, enter the clustering as 0)."""
    if task.output.kind == "classification":
        return y.astype(np.int64)
    y = fill_ignored(y, task.output.ignore)
    return cluster_labels(y.reshape(len(y), -1).astype(np.float32), k=k, seed=seed)


@dataclass
class _ClassLoop:
    """The class-wise loop's inputs: training rows per class id, each class's weight, the aligner."""
    embedder: torch.nn.Module
    distance: object  # a prepared aligner: the align method's make_aligner (orca/methods)
    x_train: object  # tensor, or LazyRows for out-of-core inputs
    classes: np.ndarray
    weights: np.ndarray  # (num_classes,) each class's share of the training set
    by_class: dict
    batch_size: int  # align.batch_size: the loader batches a class's draw is made of
    maxsamples: int
    generator: torch.Generator
    device: torch.device
    task_path: Path


def run_align(job: JobSettings, io: JobIO, body=None, log=print) -> dict:
    """Align one task's embedder as ``job`` says; writes ``io.out/embedder.pt`` and ``io.out/align.json`` and
    returns the record; with a ``snapshots`` setting (a table's ``align_epochs``) also the embedder after each
    of those epochs, ``io.out/embedder-e<k>.pt`` (:func:`snapshot_name`), so one run serves every epoch count.

    The embedder is initialised from ``body`` when given, else from ``io.embeddings`` (the pretrained backbone's
    saved EmbeddingInit) for a pretrained body, else from the body the task's ``body`` section asks for (a
    random one is drawn from the seed, as refine draws it). With ``io.checkpoint_dir`` the state is saved after
    an epoch at most every ``io.checkpoint_every_s`` seconds and a restarted job resumes from it. The protocol
    (orca.spec.protocols): ``clean`` aligns on the training part left after the validation carve with the
    converged solver; ``original`` on the whole training set with the original's OT solver.
    """
    own = getattr(get_method(job.job["method"]), "run_align", None)
    if own is not None:  # a method with its own align procedure (e.g. RECRAFT): same inputs, same outputs
        return own(job, io, body=body, log=log)
    out_dir = Path(io.out)
    ident = job.job
    backbone, method, seed = ident["backbone"], ident["method"], ident["seed"]
    proto = get_protocol(ident["protocol"])
    run = setup(job, out_dir / "embedder.pt", io.data_dir, io.device, validation=proto.validation_split)
    task = run.task
    cfg, dev, gen, data = task.align, run.device, run.generator, run.data
    pretrained = task.body.pretrained
    init = _embedding_init(backbone, pretrained, seed, body, io.embeddings, job)
    # the original copies the body's tensors only when it aligns (embedder_init(train_embedder=epochs > 0))
    embedder = build_embedder(task.input.modality, data.sample_shape, init, task.embedder,
                              transfer=cfg.epochs > 0).to(dev)
    loop, num_source = _class_loop(task, run, embedder, backbone, method, proto, io.source, init.width, seed)
    optimizer = make_optimizer(cfg.optimizer, embedder.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum,
                               cfg.betas)
    scheduler = LRSchedule(optimizer, cfg.scheduler, batches_per_epoch=1)  # one optimizer step per epoch
    ckpt = Checkpointer(io.checkpoint_dir, f"align-{task.name}-{backbone}-{method}-{proto.name}-seed{seed}-"
                        f"{run.settings_hash}", io.checkpoint_every_s)
    history, first_epoch = [], 0
    state = resume(ckpt, gen, model=embedder, optimizer=optimizer, scheduler=scheduler)
    if state is not None:
        history, first_epoch = state["history"], state["epoch"]
        log(f"[align {task.name}] resuming after epoch {first_epoch} from {ckpt.path}")
    snapshots = _snapshot_epochs(job, cfg.epochs)  # embedder-e<k>.pt after epoch k (a table's align_epochs)
    label = f"align {task.name} {backbone} {method} seed {seed}"
    start_clock(label, first_epoch)
    with StopFlag() as stop:
        for epoch in range(first_epoch, cfg.epochs):
            total = _align_epoch(loop, epoch)
            optimizer.step()
            scheduler.batch_done()
            scheduler.epoch_done()
            history.append(total)
            log(epoch_line(label, epoch + 1, cfg.epochs, f"distance {total:.5g}"))
            if epoch + 1 in snapshots:  # before the checkpoint: a resumed run never lacks one it passed
                atomic_torch_save({k: v.detach().cpu() for k, v in embedder.state_dict().items()},
                                  out_dir / snapshot_name(epoch + 1))
            ckpt.save_if_due(lambda done=epoch + 1: {**snapshot(gen, model=embedder, optimizer=optimizer,
                                                                scheduler=scheduler), "history": history, "epoch": done},
                             force=stop.requested)
            if stop.requested and epoch + 1 < cfg.epochs:
                raise Preempted(f"align stopped by signal after epoch {epoch + 1}; checkpoint {ckpt.path}")

    record = _align_record(run, proto, pretrained, loop, history, io.source, num_source)
    atomic_torch_save({k: v.cpu() for k, v in embedder.state_dict().items()}, out_dir / "embedder.pt")
    atomic_write_json(out_dir / "align.json", record)
    ckpt.remove()
    return record


def snapshot_name(epochs: int) -> str:
    """The file an align job saves its embedder to after ``epochs`` epochs (beside embedder.pt)."""
    from ..align.catalog import SNAPSHOT_FILE

    return SNAPSHOT_FILE.format(epochs=epochs)


def _snapshot_epochs(job: JobSettings, epochs: int) -> set[int]:
    """The job's ``snapshots`` setting (the tables' ``align_epochs``), each checked to lie in 1 .. epochs - 1."""
    wanted = {int(e) for e in job.get("snapshots") or []}
    bad = sorted(e for e in wanted if not 1 <= e < epochs)
    if bad:
        raise ValueError(f"align snapshots {bad} are not between 1 and align.epochs - 1 = {epochs - 1}; fix the "
                         "table's align_epochs")
    return wanted


def _embedding_init(backbone: str, pretrained: bool, seed: int, body, embeddings, job) -> EmbeddingInit:
    """What the embedder starts from: ``body``'s tensors, else the saved ``embeddings`` of a pretrained body,
    else those of the body the task asks for (random ones drawn from ``seed``)."""
    if body is not None:
        return body.embedding_init()
    if embeddings and pretrained:
        return EmbeddingInit.load(embeddings)
    return load_body(backbone, pretrained=pretrained, seed=seed, rehearsal=job.rehearsal,
                     weights=job.get("weights")).embedding_init()


def _align_record(run, proto, pretrained: bool, loop: _ClassLoop, history: list, source_path,
                  num_source: int) -> dict:
    """align.json: what was aligned, on which data and source, the distance per epoch, settings, provenance."""
    data, dev, job, task = run.data, run.device, run.job, run.task
    return {
        "task": task.name, **{k: job.job[k] for k in ("backbone", "method", "seed")},
        "body": "pretrained" if pretrained else "random", "protocol": proto.name,
        "solver": align_solver(proto, task.align.solver), "num_train": len(data.y_train),
        "distance_per_epoch": history, "num_classes": len(loop.classes), "data_sha256": data.checksum(),
        "source": str(source_path), "num_source": num_source,
        "settings": run.settings, "settings_hash": run.settings_hash, "task_file": job.task_file,
        "wall_time_s": round(time.time() - run.started, 3),
        "provenance": provenance(dev, rehearsal=job.rehearsal),
    }


def _class_loop(task: Task, run, embedder, backbone: str, aligner: str, proto, source_path, width: int,
                seed: int) -> tuple[_ClassLoop, int]:
    """Class ids and weights of the training rows, and the aligner prepared on the source features (at most
    align.max_source of them, a seeded draw). Returns the loop's inputs and the number of source features."""
    cfg, dev, data = task.align, run.device, run.data
    labels = align_labels(task, data.y_train, cfg.pseudo_labels, seed)
    classes, counts = np.unique(labels, return_counts=True)
    by_class = {int(c): np.flatnonzero(labels == c) for c in classes}
    src_x, src_y = aligned_source(source_path, cfg.max_source, seed, width, backbone)
    method = get_method(aligner)
    if getattr(method, "make_aligner", None) is None:
        raise ValueError(f"method {aligner!r} trains no embedder with the align loop; nothing to align")
    distance = method.make_aligner(solver=align_solver(proto, cfg.solver), **run.job.method_settings)
    distance.prepare(src_x.to(dev), src_y.to(dev))
    loop = _ClassLoop(embedder, distance, training_inputs(data.x_train), classes, counts / counts.sum(), by_class, cfg.batch_size,
                      cfg.maxsamples, run.generator, dev, task.path)
    return loop, len(src_x)


def aligned_source(path, max_source: int | None, seed: int, width: int, backbone: str
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The source features (N, D) float32 and labels (N,) int64 an align job aligns to: the sources stage's file,
    at most ``max_source`` of them (align.max_source: a draw seeded by the job's seed); ValueError when their
    width D is not the body's ``width``."""
    src_x, src_y = load_source(path)
    if max_source and len(src_x) > max_source:
        keep = torch.randperm(len(src_x), generator=torch.Generator().manual_seed(seed))[:max_source]
        src_x, src_y = src_x[keep], src_y[keep]
    if src_x.shape[1] != width:
        raise ValueError(f"source features are {src_x.shape[1]} wide but {backbone} embeds to {width}; "
                         f"rebuild the source features of {backbone}")
    return src_x, src_y


def _align_epoch(loop: _ClassLoop, epoch: int) -> float:
    """One epoch of the paper's class-wise loop: gradients accumulate over classes (zeroed here); the caller
    takes the optimizer step. Returns the epoch's class-weighted distance."""
    for p in loop.embedder.parameters():
        p.grad = None
    total = 0.0
    for ci in torch.randperm(len(loop.classes), generator=loop.generator).tolist():
        idx = loop.by_class[int(loop.classes[ci])]
        count = class_sample_count(len(idx), loop.batch_size, loop.maxsamples)
        if count < 2:  # ORCA skips a class whose features are a single sample
            continue
        if count < len(idx):
            pick = torch.randperm(len(idx), generator=loop.generator)[:count].numpy()
            idx = idx[np.sort(pick)]
        tokens, _ = loop.embedder(batch_rows(loop.x_train, idx).to(loop.device))
        feats = tokens.mean(dim=1)
        target_y = torch.full((len(idx),), int(loop.classes[ci]), dtype=torch.long, device=loop.device)
        loss = float(loop.weights[ci]) * loop.distance(feats, target_y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"align distance became {loss.item()} at epoch {epoch + 1}, class "
                                     f"{int(loop.classes[ci])}; lower align.lr in {loop.task_path}")
        loss.backward()
        total += loss.item()
    return total


def class_sample_count(class_size: int, batch_size: int, maxsamples: int) -> int:
    """How many of a class's samples one align epoch embeds: ORCA draws shuffled loader batches of
    ``batch_size`` until more than ``maxsamples`` are collected (or the class runs out), so
    min(class_size, batch_size * (maxsamples // batch_size + 1)); e.g. CIFAR-100: 32 * 5 = 160."""
    return min(class_size, batch_size * (maxsamples // batch_size + 1))
