"""The refine stage: fine-tune embedder + body + head on the task, report the selected epoch's test score.

Records the test scores under their own names, per evaluation protocol (orca.spec.protocols):
- ``clean``: ``test_at_best_val``, the test score of the weights from the epoch with the best validation
  score (the validation split is carved from the training data);
- ``original`` (the released code's): the whole training set trains, the test set is scored after every
  epoch and ``test_best_epoch_original`` is the best of those (a test-selected epoch);
- both: ``test_last_epoch``, the test score after the last epoch (what the original code also printed).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..training.augment import make_augmenter
from ..training.checkpoint import Checkpointer, Preempted, StopFlag
from ..data.download.fetching import file_digest
from ..evaluation.scoring import make_scorer
from ..training.losses import make_loss
from ..evaluation.metrics import get_metric
from ..model.backbones import load_body
from ..spec.jobs import JobSettings
from ..spec.protocols import get_protocol
from ..model.network import build_model, output_shape
from ..training.optim import LRSchedule, accumulated_backward, is_step_batch, make_optimizer
from ..training.precision import precision_context
from ..training.progress import epoch_line, start_clock
from .records import build_record, write_record
from ..data.taskdata import num_outputs
from ..spec.tasks import Task
from .common import JobIO, batch_rows, resume, setup, snapshot, training_inputs
from ..model.finetune import apply_finetune
from ..model.replacement_bodies import replace_body
from .controls import body_of


def as_target(y: np.ndarray, kind: str) -> torch.Tensor:
    return torch.from_numpy(y).long() if kind == "classification" else torch.from_numpy(y).float()


@torch.inference_mode()
def predict(model: torch.nn.Module, x: np.ndarray, batch_size: int, device: torch.device,
            decode=None) -> np.ndarray:
    """Model outputs for all of ``x`` as float32 numpy, in batches; ``decode`` (tensor -> tensor) is applied
    to each batch's outputs when given (de-normalised targets, ``data.normalize``). ``x`` may be a LazyRows
    (out-of-core inputs): each slice reads one batch of rows. Run inside ``precision_context`` for another
    precision (refine's evaluation does): the outputs are cast to float32 either way."""
    model.eval()
    forward = model if decode is None else (lambda xb: decode(model(xb)))
    out = [forward(torch.from_numpy(x[i: i + batch_size]).to(device)).float().cpu().numpy()
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def is_better(new: float, old: float | None, higher_is_better: bool) -> bool:
    if old is None or np.isnan(old):
        return not np.isnan(new)
    return new > old if higher_is_better else new < old


@dataclass
class _Training:
    """What the refine loop works with (built once per run); ``t`` is the whole training state, and a
    checkpoint is a snapshot of it plus the model, optimizer, scheduler and RNG states."""
    cfg: object  # orca.spec.tasks.RefineSpec
    model: torch.nn.Module
    forward: object  # model, or model followed by the target decoder
    loss_fn: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    x_train: object  # tensor, or LazyRows for out-of-core inputs
    y_train: torch.Tensor
    augment: object
    evaluate: object  # (y, x, groups) -> score
    metric: object
    device: torch.device
    generator: torch.Generator
    ckpt: Checkpointer
    label: str
    log: object
    task_path: Path
    proto: object  # orca.spec.protocols.Protocol: which part selects the epoch (select_on: val | test)
    t: dict = field(default_factory=lambda: {"epoch": 0, "next_batch": 0, "order": None, "running": 0.0, "step": 0,
                                             "history": [], "best_val": None, "best_epoch": -1, "best_state": None})

    @property
    def num_batches(self) -> int:
        return -(-len(self.x_train) // self.cfg.batch_size)

    def snapshot(self) -> dict:
        return {**self.t, **snapshot(self.generator, model=self.model, optimizer=self.optimizer,
                                     scheduler=self.scheduler)}


def run_refine(job: JobSettings, io: JobIO, body=None, log=print) -> dict:
    """Fine-tune one (task, backbone, method, protocol, seed) cell as ``job`` says; write its result JSON to
    ``io.out`` and return the record.

    The protocol (``job.job["protocol"]``, orca.spec.protocols): ``clean`` selects on a validation split,
    ``original`` on the test set. A ``body`` passed in is trained in place (pass a copy to reuse it) and used
    as it is; by default the body the task's ``body`` section asks for is loaded (pretrained from the job's
    ``weights``, or random from the seed; its dropout written in). The method's body mode (a control,
    orca/stages/controls.py): "frozen" trains only the body's layer norms (with the embedder and head); "random"
    builds the body with random weights. Without an aligned embedder (``io.embedder``) the embedder starts as
    the original's does without alignment (no transfer). With ``io.checkpoint_dir`` the state is saved after an
    epoch at most every ``io.checkpoint_every_s`` seconds and mid-epoch when SIGTERM/SIGUSR1 asks the job to
    stop; a restarted job resumes there and ends with the same numbers as an uninterrupted one.
    """
    ident = job.job
    backbone, method, seed = ident["backbone"], ident["method"], ident["seed"]
    proto = get_protocol(ident["protocol"])
    body_kind = body_of(method)
    run = setup(job, io.out, io.data_dir, io.device, validation=proto.validation_split)
    task, data = run.task, run.data
    metric = get_metric(task.metric)
    k = num_outputs(task, data.y_train, data.info)
    pretrained = task.body.pretrained and body_kind != "random"
    body = body or load_body(backbone, pretrained=pretrained, dropout=task.body.dropout, seed=seed,
                             rehearsal=job.rehearsal, weights=job.get("weights"), attention=task.body.attention)
    body = replace_body(body, body_kind, seed, task.body.dropout)  # attention1-body, no-body: a replacement
    finetuned = apply_finetune(body, task.refine.finetune, task.refine.lora, seed)  # refine.finetune (+ lora)
    embedder_path = io.embedder
    model = build_model(body, task.input.modality, data.sample_shape, task.embedder, task.output.kind,
                        output_shape(task.output.kind, k, data.y_train.shape[1:]), transfer=embedder_path is not None)
    if embedder_path is not None:
        load_embedder(model.embedder, embedder_path, f"task {task.name!r} on {backbone}")
    model.to(run.device)
    ckpt = Checkpointer(io.checkpoint_dir, f"refine-{task.name}-{backbone}-{method}-{proto.name}-seed{seed}-"
                        f"{run.settings_hash}-{_file_digest(embedder_path)}", io.checkpoint_every_s)
    tr = _training(task, run, model, k, seed, ckpt, f"refine {task.name} {backbone} {method} seed {seed}", log,
                   proto)
    state = resume(ckpt, run.generator, model=model, optimizer=tr.optimizer, scheduler=tr.scheduler)
    if state is not None:
        tr.t.update(state)
        log(f"[refine {task.name}] resuming at epoch {tr.t['epoch'] + 1}, batch {tr.t['next_batch']} from {ckpt.path}")
    start_clock(tr.label, tr.t["epoch"])
    with StopFlag() as stop:
        while tr.t["epoch"] < tr.cfg.epochs:
            _train_epoch(tr, stop)
            _end_epoch(tr, data, stop)
    scores = _final_scores(tr, data)
    record = build_record(job, metric, scores, data, run.started, io.out, run.device, protocol=proto.name,
                          history=tr.t["history"],
                          body=_body_label(body_kind, pretrained, task.refine.finetune),
                          finetune={**finetuned, "trainable_parameters": _trainable(model),
                                    "parameters": sum(p.numel() for p in model.parameters())},
                          embedder=str(embedder_path) if embedder_path else None)
    write_record(record, io.out)
    ckpt.remove()
    return record.to_json()


def _body_label(kind: str, pretrained: bool, finetune: str) -> str:
    """The run record's ``body``: frozen (refine.finetune frozen), pretrained, random, attention1 or none."""
    if kind in ("attention1", "none"):
        return kind
    if finetune == "frozen":
        return "frozen"
    return "pretrained" if pretrained else "random"


def _trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _training(task: Task, run, model, k: int, seed: int, ckpt: Checkpointer, label: str, log, proto) -> _Training:
    """Loss, optimizer, schedule, augmentation and scoring for one run (in the order the numbers depend on)."""
    cfg, data, dev, ignore = task.refine, run.data, run.device, task.output.ignore
    loss_opts = task.loss.options()
    if loss_opts.get("class_weights") == "balanced":
        loss_opts.update(y_train=data.y_train, num_classes=k)
    if ignore:  # the protocol says how the masked loss averages (orca.spec.protocols: masked_loss_mean)
        loss_opts.update(ignore=ignore, masked_mean=proto.masked_loss_mean)
    loss_fn = make_loss(task.loss.name, **loss_opts).to(dev)
    # with normalised targets the model predicts standardised values; loss and metric see them decoded
    decode = data.y_normalizer.torch_decoder(dev) if data.y_normalizer is not None else None
    forward = model if decode is None else (lambda xb: decode(model(xb)))
    metric = get_metric(task.metric)
    scorer = make_scorer(task.metric, proto, batch_size=cfg.batch_size, eval_batch_size=cfg.eval_batch_size,
                         ignore=ignore, original_crop=task.eval.original_crop, crop_lengths=data.crop_lengths_test)

    def evaluate(y: np.ndarray, x: np.ndarray, groups: np.ndarray | None) -> float:
        with precision_context(cfg.precision, dev):  # refine.precision, as in training
            outputs = predict(model, x, cfg.eval_batch_size, dev, decode)
        return scorer(y, outputs, groups)

    # out-of-core inputs (data.args.lazy_inputs) stay on disk: each batch reads its rows
    x_train = training_inputs(data.x_train)
    augment = make_augmenter(cfg.augment, seed, data.sample_shape[0], task.input.modality,
                             (task.data.normalize or {}).get("inputs"))  # refine.augment; identity when unset
    optimizer = make_optimizer(cfg.optimizer, [p for p in model.parameters() if p.requires_grad], cfg.lr,
                               cfg.weight_decay, cfg.momentum, cfg.betas)  # a frozen body's weights are left out
    # per batch or per epoch (orca/training/optim.py)
    scheduler = LRSchedule(optimizer, cfg.scheduler, -(-len(x_train) // cfg.batch_size))
    return _Training(cfg, model, forward, loss_fn, optimizer, scheduler, x_train,
                     as_target(data.y_train, task.output.kind), augment, evaluate, metric, dev, run.generator,
                     ckpt, label, log, task.path, proto)


def _train_epoch(tr: _Training, stop) -> None:
    """The training batches of epoch ``t["epoch"]`` from ``t["next_batch"]`` on, with gradient accumulation;
    on a stop request the state is saved at the next optimizer step and the job exits (Preempted)."""
    t, cfg, dev = tr.t, tr.cfg, tr.device
    epoch, bs, accum, num_batches = t["epoch"], cfg.batch_size, cfg.accum, tr.num_batches
    if t["order"] is None:
        t.update(order=torch.randperm(len(tr.x_train), generator=tr.generator), next_batch=0, running=0.0)
    tr.model.train()
    tr.optimizer.zero_grad(set_to_none=True)
    for b in range(t["next_batch"], num_batches):
        idx = t["order"][b * bs: (b + 1) * bs]
        xb, yb = tr.augment(batch_rows(tr.x_train, idx), epoch, b).to(dev), tr.y_train[idx].to(dev)
        # forward and loss at refine.precision (bf16: autocast, the loss sees float32 outputs; no GradScaler, bf16
        # has float32's exponent range); backward outside the context, as torch recommends for autocast
        with precision_context(cfg.precision, dev):
            loss = tr.loss_fn(tr.forward(xb).float(), yb)
        if not torch.isfinite(loss):
            kept = f" (the last good checkpoint is kept: {tr.ckpt.path})" if tr.ckpt.exists() else ""
            raise FloatingPointError(
                f"refine loss became {loss.item()} at epoch {epoch + 1}, step {t['step']}; lower refine.lr "
                f"or set refine.clip in {tr.task_path}{kept}")
        # unscaled: gradients add up over accum micro-batches; a trailing partial group is dropped
        accumulated_backward(loss, tr.model.parameters(), cfg.clip)
        t["running"] += loss.item()
        t["step"] += 1
        step_now = is_step_batch(b, accum)
        if step_now:
            tr.optimizer.step()
            tr.optimizer.zero_grad(set_to_none=True)
        tr.scheduler.batch_done()  # before any checkpoint, so a resumed run continues its schedule
        if step_now:
            t["next_batch"] = b + 1
            if stop.requested and b + 1 < num_batches:
                tr.ckpt.save(tr.snapshot())
                raise Preempted(f"refine stopped by signal in epoch {epoch + 1}; checkpoint {tr.ckpt.path}")


def _end_epoch(tr: _Training, data, stop) -> None:
    """Schedule step, the selection part's score (the protocol's: val or test), best-so-far weights, history,
    log line and checkpoint."""
    t, epoch, part = tr.t, tr.t["epoch"], tr.proto.select_on
    tr.scheduler.epoch_done()
    val = tr.evaluate(*_selection_part(data, part))
    if is_better(val, t["best_val"], tr.metric.higher_is_better):
        t["best_val"], t["best_epoch"] = val, epoch
        if part == "val":  # the test-selected epoch's score is already known
            t["best_state"] = copy.deepcopy({k: v.detach().cpu() for k, v in tr.model.state_dict().items()})
    train_loss = t["running"] / tr.num_batches
    t["history"] = t["history"] + [{"epoch": epoch + 1, "train_loss": train_loss, part: val}]
    t.update(epoch=epoch + 1, order=None, next_batch=0)
    tr.log(epoch_line(tr.label, epoch + 1, tr.cfg.epochs, f"loss {train_loss:.4g} {part} {tr.metric.name} {val:.4g}"))
    if t["epoch"] < tr.cfg.epochs:
        tr.ckpt.save_if_due(tr.snapshot, force=stop.requested)
        if stop.requested:
            raise Preempted(f"refine stopped by signal after epoch {epoch + 1}; checkpoint {tr.ckpt.path}")


def _final_scores(tr: _Training, data) -> dict:
    """Test score after the last epoch and with the best-validation weights (the same when that was the last);
    under a test-selecting protocol both come from the history (the test set was scored every epoch)."""
    t = tr.t
    if tr.proto.select_on == "test":
        return {tr.proto.selected_score: t["best_val"], "test_last_epoch": t["history"][-1]["test"],
                "best_epoch": t["best_epoch"] + 1}
    test_last = tr.evaluate(data.y_test, data.x_test, data.groups_test)
    test_best = test_last
    if t["best_state"] is not None and t["best_epoch"] != tr.cfg.epochs - 1:
        tr.model.load_state_dict(t["best_state"])
        test_best = tr.evaluate(data.y_test, data.x_test, data.groups_test)
    return {"test_at_best_val": test_best, "test_last_epoch": test_last, "best_val": t["best_val"],
            "best_epoch": t["best_epoch"] + 1}


def load_embedder(embedder: torch.nn.Module, path: str | Path, expected: str) -> None:
    """Load an aligned embedder (``orca align``'s embedder.pt) into ``embedder``; a file that is not one, or one
    aligned for another task or backbone, raises ValueError naming the file and what was expected."""
    hint = f"expected the embedder.pt `orca align` writes for {expected}; align again or pass the right --embedder"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a file that is not a checkpoint
        raise ValueError(f"--embedder {path}: cannot be read as saved tensors ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}); {hint}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"--embedder {path}: holds {type(state).__name__}, not a state dict of tensors; {hint}")
    mine = embedder.state_dict()
    wrong = [f"{k} {tuple(v.shape)} (expected {tuple(mine[k].shape)})" for k, v in state.items()
             if k in mine and v.shape != mine[k].shape]
    missing, extra = sorted(set(mine) - set(state)), sorted(set(state) - set(mine))
    if wrong or missing or extra:
        parts = [f"shapes differ: {', '.join(wrong[:3])}" if wrong else "",
                 f"missing {', '.join(missing[:3])}" if missing else "", f"unexpected {', '.join(extra[:3])}" if extra else ""]
        raise ValueError(f"--embedder {path}: does not fit this embedder ({'; '.join(p for p in parts if p)}); {hint}")
    embedder.load_state_dict(state)


def _selection_part(data, part: str) -> tuple:
    """(targets, inputs, group ids) of the part scored after every epoch: ``val`` or ``test`` (a protocol's select_on)."""
    if part == "test":
        return data.y_test, data.x_test, data.groups_test
    return data.y_val, data.x_val, data.groups_val


def _file_digest(path: str | Path | None) -> str:
    """Short content hash of the aligned embedder, so a re-aligned embedder never resumes an old refine."""
    return "none" if path is None else file_digest(Path(path))[:8]
