"""The refine stage: fine-tune embedder + body + head on the task, report the selected epoch's test score.

Records the test scores under their own names, per evaluation protocol (orca.protocols):
- ``clean``: ``test_at_best_val``, the test score of the weights from the epoch with the best validation
  score (the validation split is carved from the training data);
- ``original`` (the released code's): the whole training set trains, the test set is scored after every
  epoch and ``test_best_epoch_original`` is the best of those (a test-selected epoch);
- both: ``test_last_epoch``, the test score after the last epoch (what the original code also printed).
"""
from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch

from ..augment import make_augmenter
from ..model.backbones import load_body
from .controls import freeze_except_layer_norms
from ..checkpoint import Checkpointer, Preempted, StopFlag, rng_state, set_rng_state
from ..data.download.fetching import file_digest
from ..data.loaders.lazy import is_lazy, read_rows
from ..evaluation import make_scorer
from ..losses import make_loss
from ..metrics import get_metric
from ..protocols import DEFAULT_PROTOCOL, get_protocol
from ..model.network import build_model, output_shape
from ..optim import LRSchedule, accumulated_backward, is_step_batch, make_optimizer
from ..progress import epoch_line, start_clock
from ..runtime import atomic_write_json, check_writable, pick_device, provenance, seed_everything
from ..taskdata import num_outputs, prepare_split
from ..tasks import Task, settings_hash, stage_settings


def as_target(y: np.ndarray, kind: str) -> torch.Tensor:
    return torch.from_numpy(y).long() if kind == "classification" else torch.from_numpy(y).float()


@torch.inference_mode()
def predict(model: torch.nn.Module, x: np.ndarray, batch_size: int, device: torch.device,
            decode=None) -> np.ndarray:
    """Model outputs for all of ``x`` as float32 numpy, in batches; ``decode`` (tensor -> tensor) is applied
    to each batch's outputs when given (de-normalised targets, ``data.normalize``). ``x`` may be a LazyRows
    (out-of-core inputs): each slice reads one batch of rows."""
    model.eval()
    forward = model if decode is None else (lambda xb: decode(model(xb)))
    out = [forward(torch.from_numpy(x[i: i + batch_size]).to(device)).float().cpu().numpy()
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def is_better(new: float, old: float | None, higher_is_better: bool) -> bool:
    if old is None or np.isnan(old):
        return not np.isnan(new)
    return new > old if higher_is_better else new < old


def run_refine(task: Task, backbone: str, aligner: str, seed: int, out_path: str | Path, data_dir: str | Path,
               embedder_path: str | Path | None = None, device: str | None = None, body=None, log=print,
               checkpoint_dir: str | Path | None = None, body_mode: str = "pretrained",
               protocol: str = DEFAULT_PROTOCOL) -> dict:
    """Fine-tune one (task, backbone, aligner, seed) cell and write its result JSON to ``out_path``.

    ``protocol`` (orca.protocols): ``clean`` selects on a validation split, ``original`` on the test set.

    A ``body`` passed in is trained in place (pass a copy to reuse it) and used as it is; by default the body the
    task's ``body`` section asks for is loaded (pretrained or random from ``seed``, its dropout written in).
    ``body_mode`` (a control, orca/stages/controls.py): "pretrained" as the task says; "frozen" trains only the
    body's layer norms (with the embedder and head); "random" builds the body with random weights.
    Without an aligned embedder, the embedder starts as the original's does without alignment (no transfer).
    With ``checkpoint_dir`` the state is saved after every epoch (and mid-epoch when SIGTERM/SIGUSR1 asks the
    job to stop); a restarted job resumes there and ends with the same numbers as an uninterrupted one.
    """
    start = time.time()
    check_writable(out_path)
    settings = stage_settings(task, "refine")
    cfg = task.spec["refine"]
    kind = task.spec["output"]["kind"]
    metric = get_metric(task.spec["metric"])
    dev = pick_device(device)
    gen = seed_everything(seed)
    proto = get_protocol(protocol)
    data = prepare_split(task, seed, data_dir, validation=proto.validation_split)
    k = num_outputs(task, data.y_train, data.info)
    body_cfg = task.spec["body"]
    pretrained = body_cfg["pretrained"] and body_mode != "random"
    body = body or load_body(backbone, pretrained=pretrained, dropout=body_cfg["dropout"], seed=seed)
    if body_mode == "frozen":
        freeze_except_layer_norms(body)
    model = build_model(body, task.spec["input"]["modality"], data.sample_shape, task.spec["embedder"], kind,
                        output_shape(kind, k, data.y_train.shape[1:]), transfer=embedder_path is not None)
    if embedder_path is not None:
        model.embedder.load_state_dict(torch.load(embedder_path, map_location="cpu", weights_only=True))
    model.to(dev)

    loss_opts = {k: v for k, v in task.spec["loss"].items() if k != "name" and v is not None}
    if loss_opts.get("class_weights") == "balanced":
        loss_opts.update(y_train=data.y_train, num_classes=k)
    ignore = task.spec["output"].get("ignore")
    if ignore:
        loss_opts["ignore"] = ignore
    loss_fn = make_loss(task.spec["loss"]["name"], **loss_opts).to(dev)
    # with normalised targets the model predicts standardised values; loss and metric see them decoded
    decode = data.y_normalizer.torch_decoder(dev) if data.y_normalizer is not None else None
    forward = model if decode is None else (lambda xb: decode(model(xb)))

    scorer = make_scorer(task.spec, proto, data.crop_lengths_test)

    def evaluate(y: np.ndarray, x: np.ndarray, groups: np.ndarray | None) -> float:
        return scorer(y, predict(model, x, cfg["eval_batch_size"], dev, decode), groups)

    # out-of-core inputs (data.args.lazy_inputs) stay on disk: each batch reads its rows
    x_train = data.x_train if is_lazy(data.x_train) else torch.from_numpy(data.x_train)
    y_train = as_target(data.y_train, kind)
    augment = make_augmenter(task.spec, seed, data.sample_shape[0])  # refine.augment; identity when unset
    n, bs, accum = len(x_train), cfg["batch_size"], cfg["accum"]
    num_batches = -(-n // bs)
    optimizer = make_optimizer(cfg["optimizer"], [p for p in model.parameters() if p.requires_grad], cfg["lr"],
                               cfg["weight_decay"], cfg["momentum"], cfg["betas"])
    scheduler = LRSchedule(optimizer, cfg["scheduler"], num_batches)  # per batch or per epoch (orca/optim.py)
    # t: the whole training state; checkpoints are snapshots of it
    t = {"epoch": 0, "next_batch": 0, "order": None, "running": 0.0, "step": 0, "history": [],
         "best_val": None, "best_epoch": -1, "best_state": None}
    ckpt = Checkpointer(checkpoint_dir, f"refine-{task.name}-{backbone}-{aligner}-{proto.name}-seed{seed}"
                        f"-{settings_hash(settings)}-{_file_digest(embedder_path)}")

    def snapshot() -> dict:
        return {**t, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": rng_state(gen)}

    state = ckpt.load()
    if state is not None:
        model.load_state_dict(state.pop("model"))
        optimizer.load_state_dict(state.pop("optimizer"))
        scheduler.load_state_dict(state.pop("scheduler"))
        set_rng_state(state.pop("rng"), gen)
        t.update(state)
        log(f"[refine {task.name}] resuming at epoch {t['epoch'] + 1}, batch {t['next_batch']} from {ckpt.path}")

    start_clock(f"refine {task.name} {backbone} {aligner} seed {seed}", t["epoch"])
    with StopFlag() as stop:
        while t["epoch"] < cfg["epochs"]:
            epoch = t["epoch"]
            if t["order"] is None:
                t.update(order=torch.randperm(n, generator=gen), next_batch=0, running=0.0)
            model.train()
            optimizer.zero_grad(set_to_none=True)
            for b in range(t["next_batch"], num_batches):
                idx = t["order"][b * bs: (b + 1) * bs]
                loss = loss_fn(forward(augment(_batch(x_train, idx), epoch, b).to(dev)), y_train[idx].to(dev))
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"refine loss became {loss.item()} at epoch {epoch + 1}, step {t['step']}; lower refine.lr "
                        f"or set refine.clip in {task.path} (the last good checkpoint is kept: {ckpt.path})")
                # unscaled: gradients add up over accum micro-batches; a trailing partial group is dropped
                accumulated_backward(loss, model.parameters(), cfg["clip"])
                t["running"] += loss.item()
                t["step"] += 1
                step_now = is_step_batch(b, accum)
                if step_now:
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                scheduler.batch_done()  # before any checkpoint, so a resumed run continues its schedule
                if step_now:
                    t["next_batch"] = b + 1
                    if stop.requested and b + 1 < num_batches:
                        ckpt.save(snapshot())
                        raise Preempted(f"refine stopped by signal in epoch {epoch + 1}; checkpoint {ckpt.path}")
            scheduler.epoch_done()
            val = evaluate(*_selection_part(data, proto.select_on))
            if is_better(val, t["best_val"], metric.higher_is_better):
                t["best_val"], t["best_epoch"] = val, epoch
                if proto.select_on == "val":  # the test-selected epoch's score is already known
                    t["best_state"] = copy.deepcopy({k_: v.detach().cpu() for k_, v in model.state_dict().items()})
            train_loss = t["running"] / num_batches
            t["history"] = t["history"] + [{"epoch": epoch + 1, "train_loss": train_loss, proto.select_on: val}]
            t.update(epoch=epoch + 1, order=None, next_batch=0)
            log(epoch_line(f"refine {task.name} {backbone} {aligner} seed {seed}", epoch + 1, cfg["epochs"],
                           f"loss {train_loss:.4g} {proto.select_on} {metric.name} {val:.4g}"))
            if t["epoch"] < cfg["epochs"]:
                ckpt.save(snapshot())
                if stop.requested:
                    raise Preempted(f"refine stopped by signal after epoch {epoch + 1}; checkpoint {ckpt.path}")
    history, best_val, best_epoch, best_state = t["history"], t["best_val"], t["best_epoch"], t["best_state"]

    if proto.select_on == "test":  # the test set was scored every epoch: best and last come from the history
        scores = {proto.selected_score: best_val, "test_last_epoch": history[-1]["test"], "best_epoch": best_epoch + 1}
    else:
        test_last = evaluate(data.y_test, data.x_test, data.groups_test)
        test_best = test_last
        if best_state is not None and best_epoch != cfg["epochs"] - 1:
            model.load_state_dict(best_state)
            test_best = evaluate(data.y_test, data.x_test, data.groups_test)
        scores = {"test_at_best_val": test_best, "test_last_epoch": test_last, "best_val": best_val,
                  "best_epoch": best_epoch + 1}

    dev_info = provenance(dev)
    record = {
        "task": task.name, "task_title": task.title, "suite": task.spec["suite"], "backbone": backbone,
        "body": "frozen" if body_mode == "frozen" else ("pretrained" if pretrained else "random"),
        "method": aligner, "protocol": proto.name, "seed": seed, "metric": metric.name,
        "metric_display": metric.display, "higher_is_better": metric.higher_is_better, "scores": scores,
        "history": history,
        "num_train": len(data.x_train), "num_val": len(data.x_val), "num_test": len(data.x_test),
        "data_sha256": data.checksum(),
        "embedder": str(embedder_path) if embedder_path else None,
        "settings": settings, "settings_hash": settings_hash(settings),
        "published_key": task.spec["published"][0] if task.spec["published"] else None,
        "wall_time_s": round(time.time() - start, 3),
        "provenance": {**dev_info, "run_file": str(out_path)},
    }
    atomic_write_json(out_path, record)
    ckpt.remove()
    return record


def _selection_part(data, part: str) -> tuple:
    """(targets, inputs, group ids) of the part scored after every epoch: ``val`` or ``test`` (a protocol's select_on)."""
    if part == "test":
        return data.y_test, data.x_test, data.groups_test
    return data.y_val, data.x_val, data.groups_val


def _batch(x_train, idx: torch.Tensor) -> torch.Tensor:
    """Training rows ``idx`` as a tensor: indexed in memory, or read from disk for a LazyRows."""
    return torch.from_numpy(read_rows(x_train, idx)) if is_lazy(x_train) else x_train[idx]


def _file_digest(path: str | Path | None) -> str:
    """Short content hash of the aligned embedder, so a re-aligned embedder never resumes an old refine."""
    return "none" if path is None else file_digest(Path(path))[:8]
