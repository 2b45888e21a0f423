"""The align stage: train only the embedder so embedded target data gets close to the source features.

One epoch (the paper's loop): visit the classes in random order; for each class embed a random
draw of its training samples (as many as ORCA's loader batches of ``align.batch_size`` give until
more than ``maxsamples`` are collected: ``class_sample_count``), mean-pool over tokens, add
``weight_c * d(source, class)`` and backpropagate (a class with a single sample is skipped); then take
one optimizer step and one scheduler step. ``weight_c`` is the class's share of the training set, so
the epoch's distance is a class-weighted average. Tasks without classes use k-means pseudo-labels of
their targets. The optimizer is the task's own (align.optimizer, weight_decay, momentum, betas default
to refine's) at ``align.lr`` (default: ``orca.optim.align_lr`` of refine.lr); the schedule is
``align.scheduler`` (default ORCA's StepLR lambda, milestones 20, 40, 60, base 0.2).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..model.backbones import EmbeddingInit, load_body
from ..checkpoint import Checkpointer, Preempted, StopFlag, rng_state, set_rng_state
from ..data.loaders.lazy import is_lazy
from ..model.embedders import build_embedder
from ..evaluation import fill_ignored
from ..optim import LRSchedule, make_optimizer
from ..progress import epoch_line, start_clock
from ..runtime import atomic_torch_save, atomic_write_json, check_writable, pick_device, provenance, seed_everything
from ..sources import cluster_labels, load_source
from ..taskdata import prepare_split
from ..tasks import Task, settings_hash, stage_settings
from ..protocols import DEFAULT_PROTOCOL, align_solver, get_protocol, make_protocol_aligner


def align_labels(task: Task, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Class ids for the class-wise loop: the labels, or k-means clusters of the targets (N,) int64
    (targets the task ignores, ``output.ignore``, enter the clustering as 0)."""
    if task.spec["output"]["kind"] == "classification":
        return y.astype(np.int64)
    y = fill_ignored(y, task.spec["output"].get("ignore"))
    return cluster_labels(y.reshape(len(y), -1).astype(np.float32), k=k, seed=seed)


def run_align(task: Task, backbone: str, aligner: str, seed: int, source_path: str | Path, out_dir: str | Path,
              data_dir: str | Path, device: str | None = None, body=None, log=print,
              checkpoint_dir: str | Path | None = None, embeddings: str | Path | None = None,
              protocol: str = DEFAULT_PROTOCOL) -> dict:
    """Align one task's embedder; writes ``out_dir/embedder.pt`` and ``out_dir/align.json``. Returns the record.

    The embedder is initialised from ``body`` when given, else from ``embeddings`` (the pretrained backbone's
    saved EmbeddingInit) for a pretrained body, else from the body the task's ``body`` section asks for (a
    random one is drawn from ``seed``, as refine draws it). With ``checkpoint_dir`` the state is saved after
    every epoch and a restarted job resumes from it. ``protocol`` (orca.protocols): ``clean`` aligns on the
    training part left after the validation carve with the converged solver; ``original`` on the whole
    training set with the original's OT solver.
    """
    start = time.time()
    check_writable(Path(out_dir) / "embedder.pt")
    settings = stage_settings(task, "align")
    cfg = task.spec["align"]
    dev = pick_device(device)
    gen = seed_everything(seed)
    proto = get_protocol(protocol)
    data = prepare_split(task, seed, data_dir, validation=proto.validation_split)
    pretrained = task.spec["body"]["pretrained"]
    if body is not None:
        init = body.embedding_init()
    elif embeddings and pretrained:
        init = EmbeddingInit.load(embeddings)
    else:
        init = load_body(backbone, pretrained=pretrained, seed=seed).embedding_init()
    # the original copies the body's tensors only when it aligns (embedder_init(train_embedder=epochs > 0))
    embedder = build_embedder(task.spec["input"]["modality"], data.sample_shape, init, task.spec["embedder"],
                              transfer=cfg["epochs"] > 0).to(dev)

    labels = align_labels(task, data.y_train, cfg["pseudo_labels"], seed)
    classes, counts = np.unique(labels, return_counts=True)
    weights = counts / counts.sum()
    by_class = {int(c): np.flatnonzero(labels == c) for c in classes}

    src_x, src_y = load_source(source_path)
    if cfg["max_source"] and len(src_x) > cfg["max_source"]:
        keep = torch.randperm(len(src_x), generator=torch.Generator().manual_seed(seed))[: cfg["max_source"]]
        src_x, src_y = src_x[keep], src_y[keep]
    if src_x.shape[1] != init.width:
        raise ValueError(f"source features are {src_x.shape[1]} wide but {backbone} embeds to {init.width}; "
                         f"rebuild the source features of {backbone}")
    distance = make_protocol_aligner(aligner, proto, cfg.get("solver"))
    distance.prepare(src_x.to(dev), src_y.to(dev))

    optimizer = make_optimizer(cfg["optimizer"], embedder.parameters(), cfg["lr"], cfg["weight_decay"],
                               cfg["momentum"], cfg["betas"])
    scheduler = LRSchedule(optimizer, cfg["scheduler"], batches_per_epoch=1)  # one optimizer step per epoch
    x_train = data.x_train if is_lazy(data.x_train) else torch.from_numpy(data.x_train)  # lazy: rows read per class
    history, first_epoch = [], 0
    ckpt = Checkpointer(checkpoint_dir,
                        f"align-{task.name}-{backbone}-{aligner}-{proto.name}-seed{seed}-{settings_hash(settings)}")
    state = ckpt.load()
    if state is not None:
        embedder.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"], gen)
        history, first_epoch = state["history"], state["epoch"]
        log(f"[align {task.name}] resuming after epoch {first_epoch} from {ckpt.path}")
    start_clock(f"align {task.name} {backbone} {aligner} seed {seed}", first_epoch)
    with StopFlag() as stop:
        for epoch in range(first_epoch, cfg["epochs"]):
            total = _align_epoch(embedder, distance, x_train, classes, weights, by_class, cfg, gen, dev, task, epoch)
            optimizer.step()
            scheduler.batch_done()
            scheduler.epoch_done()
            history.append(total)
            log(epoch_line(f"align {task.name} {backbone} {aligner} seed {seed}", epoch + 1, cfg["epochs"],
                           f"distance {total:.5g}"))
            ckpt.save({"model": embedder.state_dict(), "optimizer": optimizer.state_dict(),
                       "scheduler": scheduler.state_dict(), "rng": rng_state(gen), "history": history,
                       "epoch": epoch + 1})
            if stop.requested and epoch + 1 < cfg["epochs"]:
                raise Preempted(f"align stopped by signal after epoch {epoch + 1}; checkpoint {ckpt.path}")

    out_dir = Path(out_dir)
    record = {
        "task": task.name, "backbone": backbone, "body": "pretrained" if pretrained else "random",
        "aligner": aligner, "protocol": proto.name, "seed": seed, "solver": align_solver(proto, cfg.get("solver")),
        "num_train": len(data.y_train),
        "distance_per_epoch": history, "num_classes": len(classes), "data_sha256": data.checksum(),
        "source": str(source_path), "num_source": len(src_x),
        "settings": settings, "settings_hash": settings_hash(settings),
        "wall_time_s": round(time.time() - start, 3), "provenance": provenance(dev),
    }
    atomic_torch_save({k: v.cpu() for k, v in embedder.state_dict().items()}, out_dir / "embedder.pt")
    atomic_write_json(out_dir / "align.json", record)
    ckpt.remove()
    return record


def _align_epoch(embedder, distance, x_train, classes, weights, by_class, cfg, gen, dev, task, epoch) -> float:
    """One epoch of the paper's class-wise loop: gradients accumulate over classes (zeroed here); the caller
    takes the optimizer step. Returns the epoch's class-weighted distance."""
    for p in embedder.parameters():
        p.grad = None
    total = 0.0
    for ci in torch.randperm(len(classes), generator=gen).tolist():
        idx = by_class[int(classes[ci])]
        count = class_sample_count(len(idx), cfg["batch_size"], cfg["maxsamples"])
        if count < 2:  # ORCA skips a class whose features are a single sample
            continue
        if count < len(idx):
            pick = torch.randperm(len(idx), generator=gen)[:count].numpy()
            idx = idx[np.sort(pick)]
        xb = torch.from_numpy(x_train[idx]) if is_lazy(x_train) else x_train[idx]
        tokens, _ = embedder(xb.to(dev))
        feats = tokens.mean(dim=1)
        target_y = torch.full((len(idx),), int(classes[ci]), dtype=torch.long, device=dev)
        loss = float(weights[ci]) * distance(feats, target_y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"align distance became {loss.item()} at epoch {epoch + 1}, class "
                                     f"{int(classes[ci])}; lower align.lr in {task.path}")
        loss.backward()
        total += loss.item()
    return total


def class_sample_count(class_size: int, batch_size: int, maxsamples: int) -> int:
    """How many of a class's samples one align epoch embeds: ORCA draws shuffled loader batches of
    ``batch_size`` until more than ``maxsamples`` are collected (or the class runs out), so
    min(class_size, batch_size * (maxsamples // batch_size + 1)); e.g. CIFAR-100: 32 * 5 = 160."""
    return min(class_size, batch_size * (maxsamples // batch_size + 1))
