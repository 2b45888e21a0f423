"""RECRAFT's align stage (github.com/khiembk/RECRAFT at abc2a04): source head, feature alignment, label matching.

What the released code trains (docs/design/recraft.md has the file:line references) and what this stage does:

(a) **Source head.** A Linear on the frozen body's pooled outputs of the source samples, AdamW (``head_lr``,
    ``head_weight_decay``, torch's default betas), cosine schedule over all head epochs, stepped per epoch.
    Image bodies: ``head_plain_epochs`` of cross-entropy, then ``head_tau_epochs`` of cross-entropy plus
    :func:`orca.align.recraft.tau_penalty` of dCE/dz, z the body's patch embedding, batches of
    ``head_batch_size``. Text bodies: ``text_head_epochs`` of cross-entropy on the head's softmax (the released
    double softmax, ``text_head_softmax_before_ce``), batches of ``text_head_batch_size`` (null: align.batch_size).
    The source samples and labels are the sources stage's: CIFAR-10 training images with their classes (the
    photographs with k-means labels when the source features came from them) for image bodies, the news
    sentences with k-means clusters of their input embeddings for text bodies. **Difference:** RECRAFT's text
    head has 9 CoNLL classes trained on RoBERTa's precomputed inputs; ours has the news clusters.
(b) **Feature alignment** for ``align.epochs`` epochs: each epoch draws one shuffled subset of the training rows
    (loader batches of ``align.batch_size`` until more than ``align.maxsamples``), embeds it, mean-pools over
    tokens and takes :func:`orca.align.recraft.fa_loss` against every source feature with label 0 (our
    ``otdd-exact`` with the protocol's solver), then one optimizer step and one scheduler step. Optimizer and
    schedule are the align stage's (task.align).
(c) **Label matching** for ``label_epochs`` epochs: classes (or k-means pseudo-labels, ``kmeans_k``, of the
    targets) in random order; each class's rows shuffled into loader batches of ``label_batch_size`` (null:
    align.batch_size); softmax of the head on the pooled body output of the embedded rows (per token for a
    dense task on a text body) accumulates until ``label_maxsamples`` samples, then
    :func:`orca.align.recraft.label_matching_loss`, one step; a leftover of at least ``label_maxsamples // 2``
    samples makes one more step. The embedder and the head train, the body is frozen; the optimizer is
    align.optimizer at ``label_lr``, align.scheduler stepped once per label epoch.
(d) Only the embedder goes to refine (``embedder.pt``); the head is dropped, as the released code drops it.

Every random draw comes from the run's seeded generator (``run.generator``), so a run is deterministic; the source
head's samples are the sources stage's fixed selection (:data:`SOURCE_SEED`), their order and augmentation the
generator's. The body runs in eval mode (no dropout or drop-path; the released code trains its head and matches
labels in train mode, with the configs' dropout 0).
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from ..align.recraft import fa_aligner, fa_loss, label_matching_loss, tau_penalty
from ..model.backbones import load_body
from ..model.embedders import build_embedder
from ..runtime.process import atomic_torch_save, atomic_write_json
from ..spec.jobs import JobSettings
from ..spec.protocols import align_solver, get_protocol
from ..training.checkpoint import Checkpointer, Preempted, StopFlag
from ..training.optim import LRSchedule, make_optimizer
from ..training.progress import epoch_line, start_clock
from .align import (_align_record, _snapshot_epochs, align_labels, aligned_source, class_sample_count,
                    snapshot_name)
from .common import JobIO, batch_rows, resume, setup, snapshot, training_inputs

#: the seed the sources stage draws and clusters its samples with (``build_source_features(seed=0)``); the source
#: head's samples and labels are drawn with it too, so they are that stage's (the job's seed drives the rest)
SOURCE_SEED = 0


def method_settings(job: JobSettings) -> dict:
    """The settings this job runs with: RECRAFT's defaults and the job's task's values (orca/methods/builtin/
    recraft.yaml, through the method registry) under the job's own ``method.settings`` (what the planner resolved;
    a job without them runs the file's). An unknown key is a MethodError (a ValueError) naming the allowed ones."""
    from ..methods import resolve_settings

    return resolve_settings("recraft", job.job.get("task"), job.method_settings)


def run_recraft_align(job: JobSettings, io: JobIO, body=None, log=print) -> dict:
    """RECRAFT's align stage for one task as ``job`` says (see the module docstring): writes ``io.out/embedder.pt``
    and ``io.out/align.json`` (orca.stages.align.run_align's record, plus a ``recraft`` section) and returns the
    record. ``snapshots`` (a table's align_epochs) saves ``embedder-e<k>.pt``: the embedder a run of k feature
    alignment epochs hands to refine (its label matching run on a copy from the state after epoch k).

    ``body``: the frozen body (else loaded as refine loads it: the task's pretrained or seeded random body);
    its parameters' ``requires_grad``, its device and its input embeddings' device are restored on return. Method settings:
    :func:`method_settings`. ``io.source``: the sources stage's features (the alignment target, labels dropped);
    ``io.data_dir`` also holds the CIFAR-10 archive the source head of an image body reads.
    """
    out_dir = Path(io.out)
    ident = job.job
    backbone, method, seed = ident["backbone"], ident["method"], ident["seed"]
    proto = get_protocol(ident["protocol"])
    run = setup(job, out_dir / "embedder.pt", io.data_dir, io.device, validation=proto.validation_split)
    task = run.task
    cfg, dev, gen, data = task.align, run.device, run.generator, run.data
    s = method_settings(job)
    pretrained = task.body.pretrained
    if body is None:
        body = load_body(backbone, pretrained=pretrained, seed=seed, rehearsal=job.rehearsal, weights=job.get("weights"))
    with _frozen(body, dev):
        embedder = build_embedder(task.input.modality, data.sample_shape, body.embedding_init(), task.embedder,
                                  transfer=cfg.epochs > 0).to(dev)
        src_x, origin = _source_features(io.source, cfg.max_source, seed, body.width, backbone)
        samples = source_samples(body, origin, s, io.data_dir, SOURCE_SEED, cfg.batch_size, dev, log)
        head = torch.nn.Linear(body.out_width, samples.num_classes).to(dev)
        solver = align_solver(proto, task.align.solver)
        aligner = fa_aligner(src_x.to(dev), solver=solver, reg=s["fa_reg"])
        x_train = training_inputs(data.x_train)
        matcher = LabelMatcher.for_task(task, data, s, cfg, embedder, head, body, gen, dev, seed)
        head_epochs = samples.epochs
        head_opt = torch.optim.AdamW(head.parameters(), lr=s["head_lr"], weight_decay=s["head_weight_decay"])
        head_sched = torch.optim.lr_scheduler.CosineAnnealingLR(head_opt, T_max=head_epochs)
        fa_opt = make_optimizer(cfg.optimizer, embedder.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum, cfg.betas)
        fa_sched = LRSchedule(fa_opt, cfg.scheduler, batches_per_epoch=1)  # one optimizer step per epoch
        stateful = dict(embedder=embedder, head=head, head_opt=head_opt, head_sched=head_sched, fa_opt=fa_opt,
                        fa_sched=fa_sched, lm_opt=matcher.optimizer, lm_sched=matcher.scheduler)
        ckpt = Checkpointer(io.checkpoint_dir, f"recraft-align-{task.name}-{backbone}-{method}-{proto.name}-seed{seed}-"
                            f"{run.settings_hash}", io.checkpoint_every_s)
        done = {"head": 0, "fa": 0, "lm": 0}
        hist = {"head": [], "fa": [], "lm": [], "lm_steps": []}
        state = resume(ckpt, gen, **stateful)
        if state is not None:
            done, hist = state["done"], state["history"]
            log(f"[recraft align {task.name}] resuming after {done} from {ckpt.path}")
        snapshots = _snapshot_epochs(job, cfg.epochs)
        label = f"recraft align {task.name} {backbone} {method} seed {seed}"
        fa = _FeatureAlignment(embedder, aligner, x_train, len(data.y_train), cfg.batch_size, cfg.maxsamples, gen,
                               dev, task.path)

        def save(force: bool) -> None:
            ckpt.save_if_due(lambda: {**snapshot(gen, **stateful), "done": dict(done), "history": hist}, force=force)

        with StopFlag() as stop:
            def checkpoint(phase: str, finished: bool) -> None:
                save(stop.requested)
                if stop.requested and not finished:
                    raise Preempted(f"recraft align stopped by signal after {phase}; checkpoint {ckpt.path}")

            start_clock(f"{label} head", done["head"])
            for epoch in range(done["head"], head_epochs):
                stats = samples.train_epoch(body, head, head_opt, epoch, s, gen)
                head_sched.step()
                hist["head"].append(stats)
                done["head"] = epoch + 1
                log(epoch_line(f"{label} head", epoch + 1, head_epochs, _stats_text(stats)))
                checkpoint(f"source-head epoch {epoch + 1}", epoch + 1 == head_epochs and not cfg.epochs + matcher.epochs)
            start_clock(f"{label} FA", done["fa"])
            for epoch in range(done["fa"], cfg.epochs):
                total = fa.epoch(epoch)
                fa_opt.step()
                fa_sched.batch_done()
                fa_sched.epoch_done()
                fa_opt.zero_grad(set_to_none=True)
                hist["fa"].append(total)
                done["fa"] = epoch + 1
                log(epoch_line(f"{label} FA", epoch + 1, cfg.epochs, f"loss {total:.5g}"))
                if epoch + 1 in snapshots:  # before the checkpoint: a resumed run never lacks one it passed
                    fork = matcher.fork(copy.deepcopy(embedder), copy.deepcopy(head), _clone(gen))
                    for lm_epoch in range(fork.epochs):
                        fork.epoch(lm_epoch)
                    atomic_torch_save({k: v.detach().cpu() for k, v in fork.embedder.state_dict().items()},
                                      out_dir / snapshot_name(epoch + 1))
                checkpoint(f"feature alignment epoch {epoch + 1}", epoch + 1 == cfg.epochs and not matcher.epochs)
            start_clock(f"{label} LM", done["lm"])
            for epoch in range(done["lm"], matcher.epochs):
                total = matcher.epoch(epoch)
                hist["lm"].append(total)
                hist["lm_steps"].append(matcher.last_steps)
                done["lm"] = epoch + 1
                log(epoch_line(f"{label} LM", epoch + 1, matcher.epochs,
                               f"entropy loss {total:.5g}, {matcher.last_steps} steps"))
                if matcher.last_steps == 0:
                    log(f"warning: [{label}] label matching took no step in epoch {epoch + 1}: every class has fewer "
                        f"than label_maxsamples // 2 = {matcher.maxsamples // 2} training rows (as the released code, "
                        "it drops smaller chunks); lower label_maxsamples in method_settings to match labels")
                checkpoint(f"label matching epoch {epoch + 1}", epoch + 1 == matcher.epochs)

        record = _align_record(run, proto, pretrained, SimpleNamespace(classes=matcher.classes), hist["fa"], io.source,
                               len(src_x))
        record["recraft"] = {
            "settings": s, "fa_solver": solver, "fa_samples_per_epoch": fa.count, "fa_target_batches": fa.n_batches,
            "head": {"origin": samples.origin, "samples": samples.size, "classes": samples.num_classes,
                     "per_epoch": hist["head"]},
            "label_matching": {"rows": matcher.num_rows, "classes": len(matcher.classes), "batch_size": matcher.batch_size,
                               "loss_per_epoch": hist["lm"], "steps_per_epoch": hist["lm_steps"]},
            "source_origin": origin,
        }
        atomic_torch_save({k: v.detach().cpu() for k, v in embedder.state_dict().items()}, out_dir / "embedder.pt")
        atomic_write_json(out_dir / "align.json", record)
        ckpt.remove()
        return record


class _frozen:
    """Context: the body frozen (requires_grad off), in eval mode, on ``dev`` with its input embeddings; the
    parameters' flags and the devices of the body and of its input embeddings are put back on exit."""

    def __init__(self, body, dev):
        self.body, self.dev = body, dev

    def __enter__(self):
        self.flags = [p.requires_grad for p in self.body.parameters()]
        emb = self.body.input_embeddings
        self.emb_device = next(emb.parameters()).device
        self.device = next(self.body.parameters()).device
        self.body.requires_grad_(False)
        self.body.to(self.dev).eval()
        emb.to(self.dev).eval()
        return self.body

    def __exit__(self, *exc):
        for p, flag in zip(self.body.parameters(), self.flags):
            p.requires_grad_(flag)
        self.body.to(self.device)
        self.body.input_embeddings.to(self.emb_device)


def _clone(gen: torch.Generator) -> torch.Generator:
    out = torch.Generator(device=gen.device)
    out.set_state(gen.get_state())
    return out


def _stats_text(stats: dict) -> str:
    text = f"loss {stats['loss']:.4g} accuracy {stats['accuracy']:.3f}"
    return text + (f" penalty {stats['penalty']:.4g}" if stats.get("penalty") is not None else "")


def _source_features(path, max_source, seed: int, width: int, backbone: str) -> tuple[torch.Tensor, str]:
    """The align stage's source features (N, D) (orca.stages.align.aligned_source; labels dropped: RECRAFT aligns
    to one label) and the ``origin`` the sources stage recorded (which source data they came from)."""
    src_x, _ = aligned_source(path, max_source, seed, width, backbone)
    with np.load(path) as f:
        origin = str(f["origin"]) if "origin" in f.files else ""
    return src_x, origin


# ------------------------------------------------------------------------------------------------ (a) source head
def source_samples(body, origin: str, settings: dict, data_dir, seed: int, align_batch_size: int, dev, log=print):
    """The source head's training samples for ``body``: :class:`TextSamples` (text bodies) or :class:`ImageSamples`
    (CIFAR-10 when the source features are CIFAR-10's, per ``origin``; else the photographs), drawn and labelled
    with ``seed`` (:data:`SOURCE_SEED` in the stage: the sources stage's draw)."""
    if body.family == "text":
        return TextSamples(body, settings, seed, align_batch_size, dev)
    return ImageSamples(body, origin, settings, data_dir, seed, dev, log)


def _chunks(order: torch.Tensor, size: int):
    return [order[i: i + size] for i in range(0, len(order), size)]


class TextSamples:
    """News sentences (the sources stage's selection) through the frozen text body: the head's inputs are the
    body's outputs mean-pooled over real tokens (N, D), computed once (the body is frozen and the text has no
    augmentation); labels: k-means (k=10, seeded) of the pooled input embeddings, the sources stage's labels."""

    def __init__(self, body, settings: dict, seed: int, align_batch_size: int, dev, max_tokens: int = 64,
                 batch_size: int = 128):
        from transformers import AutoTokenizer

        from .sources import cluster_labels, news_sentences, tokenizer_location

        n = int(settings["head_samples"])
        sentences = news_sentences()
        if len(sentences) > n:
            rng = np.random.default_rng(seed)
            sentences = [sentences[i] for i in sorted(rng.choice(len(sentences), n, replace=False))]
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_location(body))
        inputs, outputs = [], []
        with torch.no_grad():
            for i in range(0, len(sentences), batch_size):
                enc = tokenizer(sentences[i: i + batch_size], padding=True, truncation=True, max_length=max_tokens,
                                return_tensors="pt")
                emb = body.embed_text(enc["input_ids"].to(dev))
                mask = enc["attention_mask"].to(dev).unsqueeze(-1).to(emb.dtype)
                inputs.append(((emb * mask).sum(1) / mask.sum(1)).float().cpu())
                hidden, _ = body(emb)
                outputs.append(((hidden * mask).sum(1) / mask.sum(1)).float())
        self.features = torch.cat(outputs)
        self.labels = torch.from_numpy(cluster_labels(torch.cat(inputs).numpy(), seed=seed)).to(dev)
        self.num_classes = int(self.labels.max()) + 1
        self.size = len(sentences)
        self.epochs = int(settings["text_head_epochs"])
        self.batch_size = int(settings["text_head_batch_size"] or align_batch_size)
        self.softmax_first = bool(settings["text_head_softmax_before_ce"])
        self.origin = f"news sentences ({self.size}), k-means labels of their input embeddings"

    def train_epoch(self, body, head, optimizer, epoch: int, settings: dict, gen) -> dict:
        """One epoch of cross-entropy (on the softmax when ``softmax_first``, as the released 1D head)."""
        loss_sum, correct, batches = 0.0, 0, 0
        for idx in _chunks(torch.randperm(self.size, generator=gen), self.batch_size):
            idx = idx.to(self.features.device)
            out = head(self.features[idx])
            y = self.labels[idx]
            loss = F.cross_entropy(out.softmax(-1) if self.softmax_first else out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            correct += int((out.argmax(-1) == y).sum())
            batches += 1
        return {"loss": loss_sum / batches, "accuracy": correct / self.size, "penalty": None}


class ImageSamples:
    """Source images of an image body: CIFAR-10 training images (the sources stage's seeded draw, ``head_samples``
    of them, with their classes; a fresh random crop + flip per epoch from the run's generator, as the released
    loader's training transforms) or, when the source features are not CIFAR-10's or the archive is missing,
    the photographs' crops with the sources stage's k-means labels (no augmentation)."""

    def __init__(self, body, origin: str, settings: dict, data_dir, seed: int, dev, log=print):
        from .sources import cifar10_train_images, cluster_labels, embed_images, photo_crops

        self.image_size, self.dev = body.image_size, dev
        n = int(settings["head_samples"])
        self.images = None
        if origin.startswith("CIFAR-10"):
            from ..data.core import DataUnavailableError

            try:
                self.images, labels = cifar10_train_images(data_dir, n, seed)
                self.origin = f"CIFAR-10, {len(labels)} training images (seed {seed}), the CIFAR-10 classes"
            except DataUnavailableError as e:
                log(f"warning: CIFAR-10 unavailable ({e}); the source head trains on the photographs")
        if self.images is None:
            self.crops = photo_crops(min(n, 1000), body.image_size, seed)
            with torch.no_grad():
                labels = cluster_labels(embed_images(_EmbedOnDevice(body), self.crops), seed=seed)
            self.origin = f"{len(self.crops)} photograph crops (seed {seed}), k-means labels of their patch embeddings"
        self.labels = torch.from_numpy(np.asarray(labels)).long()
        self.num_classes = int(self.labels.max()) + 1
        self.size = len(self.labels)
        self.plain_epochs, self.tau_epochs = int(settings["head_plain_epochs"]), int(settings["head_tau_epochs"])
        self.epochs = self.plain_epochs + self.tau_epochs
        self.batch_size = int(settings["head_batch_size"])

    def pixels(self, idx: torch.Tensor, gen) -> torch.Tensor:
        from .sources import cifar10_transform

        if self.images is not None:
            return cifar10_transform(self.images[idx.numpy()], self.image_size, gen)
        return torch.from_numpy(self.crops[idx.numpy()])

    def train_epoch(self, body, head, optimizer, epoch: int, settings: dict, gen) -> dict:
        """One epoch of cross-entropy; from epoch ``head_plain_epochs`` on plus the tau penalty of dCE/dz."""
        penalised = epoch >= self.plain_epochs
        loss_sum, pen_sum, correct, batches = 0.0, 0.0, 0, 0
        for idx in _chunks(torch.randperm(self.size, generator=gen), self.batch_size):
            x, y = self.pixels(idx, gen).to(self.dev), self.labels[idx].to(self.dev)
            with torch.no_grad():
                z, grid = body.input_embeddings(x)[:2]  # the body's patch embedding (B, T, D), grid (h, w)
            if penalised:
                z = z.detach().requires_grad_(True)
                out = head(body(z, grid)[0].mean(1))
                ce = F.cross_entropy(out, y)
                (grad,) = torch.autograd.grad(ce, z, create_graph=True)
                penalty = tau_penalty(grad, settings["tau"], settings["rho"])
                loss = ce + penalty
                pen_sum += penalty.item()
            else:
                with torch.no_grad():
                    pooled = body(z, grid)[0].mean(1)
                out = head(pooled)
                loss = ce = F.cross_entropy(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += ce.item()
            correct += int((out.argmax(-1) == y).sum())
            batches += 1
        return {"loss": loss_sum / batches, "accuracy": correct / self.size,
                "penalty": pen_sum / batches if penalised else None}


class _EmbedOnDevice:
    """embed_images' view of a body whose input embeddings sit on another device: CPU pixels in, CPU features out."""

    def __init__(self, body):
        self.body = body

    def embed_images(self, pixels):
        emb = self.body.input_embeddings
        return emb(pixels.to(next(emb.parameters()).device))[0].cpu()


# ------------------------------------------------------------------------------------------ (b) feature alignment
class _FeatureAlignment:
    """One FA epoch: a shuffled draw of ``count`` training rows (ORCA's loader batches of ``batch_size`` until more
    than ``maxsamples``: :func:`orca.stages.align.class_sample_count` of the whole set), embedded, FA loss,
    backward. The caller steps the optimizer and the schedule."""

    def __init__(self, embedder, aligner, x_train, num_rows: int, batch_size: int, maxsamples: int, gen, dev,
                 task_path):
        self.embedder, self.aligner, self.x_train, self.gen, self.dev = embedder, aligner, x_train, gen, dev
        self.num_rows, self.task_path = num_rows, task_path
        self.count = class_sample_count(num_rows, batch_size, maxsamples)
        self.n_batches = math.ceil(num_rows / batch_size)  # len(train_loader)

    def epoch(self, epoch: int) -> float:
        for p in self.embedder.parameters():
            p.grad = None
        pick = torch.randperm(self.num_rows, generator=self.gen)[: self.count].numpy()
        if self.count < 2:  # the released code takes no backward step on a single sample
            return 0.0
        tokens, _ = self.embedder(batch_rows(self.x_train, np.sort(pick)).to(self.dev))
        loss = fa_loss(tokens, self.aligner, self.n_batches)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"recraft feature alignment loss became {loss.item()} at epoch {epoch + 1}; "
                                     f"lower align.lr in {self.task_path}")
        loss.backward()
        return loss.item()


# --------------------------------------------------------------------------------------------- (c) label matching
class LabelMatcher:
    """RECRAFT's label matching (entropy variant) of ``embedder`` and ``head`` through the frozen ``body``.

    rows: the training rows it uses (all, or the first ``lb_samples``); by_class: each class id's rows; weights:
    each class's share of ``rows``. One optimizer over the embedder's and the head's parameters (align.optimizer
    at ``label_lr``), align.scheduler stepped once per label epoch."""

    def __init__(self, embedder, head, body, x_train, rows, labels, settings: dict, cfg, gen, dev, per_token: bool):
        self.embedder, self.head, self.body, self.x_train = embedder, head, body, x_train
        self.gen, self.dev, self.per_token, self.cfg, self.settings = gen, dev, per_token, cfg, settings
        self.rows, self.labels = rows, labels
        self.classes, counts = np.unique(labels, return_counts=True)
        self.by_class = {int(c): rows[labels == c] for c in self.classes}
        self.weights = {int(c): n / len(rows) for c, n in zip(self.classes, counts)}
        self.batch_size = int(settings["label_batch_size"] or cfg.batch_size)
        self.maxsamples = int(settings["label_maxsamples"])
        self.epochs = int(settings["label_epochs"])
        self.num_rows = len(rows)
        params = [*embedder.parameters(), *head.parameters()]
        self.optimizer = make_optimizer(cfg.optimizer, params, settings["label_lr"], cfg.weight_decay, cfg.momentum,
                                        cfg.betas)
        self.scheduler = LRSchedule(self.optimizer, cfg.scheduler, batches_per_epoch=1)

    @classmethod
    def for_task(cls, task, data, settings: dict, cfg, embedder, head, body, gen, dev, seed: int) -> "LabelMatcher":
        """The rows (the first ``lb_samples`` when set), their class ids (labels, or k-means pseudo-labels
        with k = ``kmeans_k``, orca.stages.align.align_labels) and the head's mode (per token for dense outputs
        on a text body, as the released 1D wrapper's dense mode)."""
        n = len(data.y_train)
        if settings["lb_samples"]:
            n = min(n, int(settings["lb_samples"]))
        rows = np.arange(n)
        labels = align_labels(task, data.y_train[:n], int(settings["kmeans_k"]), seed)
        per_token = body.family == "text" and task.output.kind == "dense"
        return cls(embedder, head, body, training_inputs(data.x_train), rows, labels, settings, cfg, gen, dev, per_token)

    def fork(self, embedder, head, gen) -> "LabelMatcher":
        """The same label matching on other modules and another generator, with a fresh optimizer (what a run
        whose feature alignment stopped here would do next)."""
        return LabelMatcher(embedder, head, self.body, self.x_train, self.rows, self.labels, self.settings, self.cfg,
                            gen, self.dev, self.per_token)

    def probs(self, idx: np.ndarray) -> torch.Tensor:
        """Softmax of the head on the body's output for rows ``idx``: (b, C) or (b, T, C) per token."""
        tokens, grid = self.embedder(batch_rows(self.x_train, idx).to(self.dev))
        hidden, _ = self.body(tokens, grid)
        return self.head(hidden if self.per_token else hidden.mean(1)).softmax(-1)

    def _step(self, probs: list, c: int, n_batches: int) -> float:
        loss = label_matching_loss(torch.cat(probs), self.weights[c], n_batches)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def epoch(self, epoch: int) -> float:
        """One label epoch; returns the summed chunk losses (``self.last_steps``: the optimizer steps it took)."""
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        self.last_steps = 0
        for ci in torch.randperm(len(self.classes), generator=self.gen).tolist():
            c = int(self.classes[ci])
            rows = self.by_class[c]
            rows = rows[torch.randperm(len(rows), generator=self.gen).numpy()]
            n_batches = math.ceil(len(rows) / self.batch_size)
            buffer, n = [], 0
            for b in range(n_batches):
                idx = rows[b * self.batch_size: (b + 1) * self.batch_size]
                buffer.append(self.probs(idx))
                n += len(idx)
                if n >= self.maxsamples:
                    total += self._step(buffer, c, n_batches)
                    self.last_steps += 1
                    buffer, n = [], 0
            if n > 0 and n >= self.maxsamples // 2:  # the leftover, only when at least half a chunk
                total += self._step(buffer, c, n_batches)
                self.last_steps += 1
        # the released code's extra optimizer.step() here finds every gradient None (zero_grad sets them to None in
        # torch >= 2.0): no step; then the schedule
        self.scheduler.batch_done()
        self.scheduler.epoch_done()
        if not math.isfinite(total):
            raise FloatingPointError(f"recraft label matching loss became {total} at label epoch {epoch + 1}")
        return total
