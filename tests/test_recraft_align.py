"""RECRAFT's align stage (orca/stages/recraft_align.py) end to end on iris / digits with tiny random bodies."""
import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import orca.stages.recraft_align as rc
from orca.methods import resolve_settings
from orca.spec.jobs import resolve_job
from orca.spec.tasks import load_task
from orca.stages.common import JobIO

OVERRIDES = {"align": {"epochs": 2, "maxsamples": 16}}
FAST = {"head_samples": 48, "text_head_epochs": 2, "label_epochs": 2, "label_maxsamples": 8}
QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def text_body(tiny_text_body):
    body = copy.deepcopy(tiny_text_body)
    body.rehearsal = True  # the offline (MiniLM) tokenizer for the news sentences, as in a rehearsal
    return body


def _job(task, settings=None, seed=0, protocol="clean", snapshots=None, method="recraft", backbone="roberta-base"):
    ident = {"task": task.name, "backbone": backbone, "method": method, "protocol": protocol, "seed": seed}
    extra = {} if settings is None else {"method": {"name": "recraft", "settings": settings}}
    if snapshots:
        extra["snapshots"] = snapshots
    return resolve_job("align", ident, "real", task, extra)


def _run(root, out, body, task=None, **job):
    task = task or load_task("benchmarks/offline/iris.yaml", OVERRIDES)
    io = JobIO(root / out, root / "data", source=root / "src.npz")
    rec = rc.run_recraft_align(_job(task, **{"settings": FAST, **job}), io, body=body, **QUIET)
    return rec, torch.load(root / out / "embedder.pt", weights_only=True)


def test_recraft_trains_the_embedder_and_writes_the_align_record(iris_with_source, text_body, monkeypatch):
    from tests.stage_jobs import run_align

    root = iris_with_source
    start, build = [], rc.build_embedder

    def spy(*args, **kw):
        module = build(*args, **kw)
        start.append(copy.deepcopy(module.state_dict()))
        return module

    monkeypatch.setattr(rc, "build_embedder", spy)
    body_before = {k: v.clone() for k, v in text_body.state_dict().items()}
    flags = [p.requires_grad for p in text_body.parameters()]
    rec, state = _run(root, "rc", text_body, settings={**FAST, "text_head_epochs": 1})
    assert state.keys() == start[0].keys() and not torch.equal(state["projection.weight"], start[0]["projection.weight"])
    # the body is frozen and handed back as it came
    assert all(torch.equal(v, body_before[k]) for k, v in text_body.state_dict().items())
    assert [p.requires_grad for p in text_body.parameters()] == flags
    # the record: run_align's keys plus a recraft section; FA loss per align epoch, LM loss per label epoch
    plain = run_align(load_task("benchmarks/offline/iris.yaml", OVERRIDES), "roberta-base", "l2", 0, root / "src.npz",
                      root / "l2", root / "data", body=text_body, **QUIET)
    assert set(rec) == set(plain) | {"recraft"} and rec["method"] == "recraft"
    assert len(rec["distance_per_epoch"]) == 2 and all(np.isfinite(rec["distance_per_epoch"]))
    r = rec["recraft"]
    assert len(r["label_matching"]["loss_per_epoch"]) == 2 and len(r["head"]["per_epoch"]) == 1
    assert r["head"]["classes"] == 10 and r["head"]["samples"] == 48 and r["label_matching"]["classes"] == 3
    assert r["settings"]["label_maxsamples"] == 8 and r["settings"]["tau"] == 0.4  # given, and the defaults
    # FA draws loader batches of align.batch_size (32) until more than 16 rows: 32 of the 121 training rows
    assert (r["fa_samples_per_epoch"], r["fa_target_batches"]) == (32, 4) and rec["solver"] == "converged"
    on_disk = json.loads((root / "rc" / "align.json").read_text())
    assert on_disk["settings_hash"] == rec["settings_hash"] and on_disk["recraft"]["settings"] == r["settings"]


def test_recraft_is_deterministic_for_a_seed(iris_with_source, text_body):
    root = iris_with_source
    a, ea = _run(root, "d-a", text_body, seed=3)
    b, eb = _run(root, "d-b", text_body, seed=3)
    c, ec = _run(root, "d-c", text_body, seed=4)
    assert all(torch.equal(ea[k], eb[k]) for k in ea)
    assert a["distance_per_epoch"] == b["distance_per_epoch"] and a["recraft"] == b["recraft"]
    assert not torch.equal(ea["projection.weight"], ec["projection.weight"])


def test_the_embedder_moves_in_both_alignment_steps(iris_with_source, text_body):
    root = iris_with_source
    _, none = _run(root, "m-0", text_body, task=load_task("benchmarks/offline/iris.yaml", {"align": {"epochs": 0}}),
                   settings={**FAST, "label_epochs": 0})
    _, fa = _run(root, "m-fa", text_body, settings={**FAST, "label_epochs": 0})
    _, both = _run(root, "m-both", text_body)
    w = [e["projection.weight"] for e in (none, fa, both)]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])


def test_a_snapshot_is_the_embedder_a_shorter_run_hands_to_refine(iris_with_source, text_body):
    root = iris_with_source
    rec, _ = _run(root, "s-long", text_body, snapshots=[1])
    _, short = _run(root, "s-short", text_body, task=load_task("benchmarks/offline/iris.yaml",
                                                                {"align": {"epochs": 1, "maxsamples": 16}}))
    snap = torch.load(root / "s-long" / "embedder-e1.pt", weights_only=True)
    assert snap.keys() == short.keys() and all(torch.equal(snap[k], short[k]) for k in snap)


def test_settings_come_from_the_job_else_from_the_method_file():
    task = load_task("benchmarks/nb360/psicov.yaml")
    defaults = rc.method_settings(_job(task, settings=None))
    assert (defaults["label_maxsamples"], defaults["label_epochs"], defaults["lb_samples"]) == (16, 4, 750)
    assert defaults["tau"] == 0.4 and defaults["rho"] == 100 and defaults["kmeans_k"] == 10
    given = rc.method_settings(_job(task, settings={"label_epochs": 9}))
    assert given["label_epochs"] == 9 and given["lb_samples"] == 750
    with pytest.raises(ValueError, match="unknown setting.*tua.*recraft has"):
        rc.method_settings(_job(task, settings={"tua": 0.1}))


class _Embed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 4)

    def forward(self, x):
        return self.lin(x), None


def test_label_matching_steps_per_chunk_and_keeps_a_leftover_of_half_a_chunk(monkeypatch):
    calls = []
    real = rc.label_matching_loss
    monkeypatch.setattr(rc, "label_matching_loss",
                        lambda p, w, nb: calls.append((p.shape[0], round(w, 6), nb)) or real(p, w, nb))
    cfg = SimpleNamespace(batch_size=4, optimizer="adamw", weight_decay=0.0, momentum=0.9, betas=(0.9, 0.98),
                          scheduler={"kind": "step", "milestones": [20], "base": 0.2})
    settings = {"label_batch_size": None, "label_maxsamples": 6, "label_epochs": 1, "label_lr": 1e-3}
    embedder, head = _Embed(), torch.nn.Linear(4, 5)
    before = [p.detach().clone() for p in (*embedder.parameters(), *head.parameters())]
    matcher = rc.LabelMatcher(embedder, head, lambda t, g: (t, g), torch.randn(16, 2, 3), np.arange(16),
                              np.array([0] * 10 + [1] * 6), settings, cfg, torch.Generator().manual_seed(0),
                              torch.device("cpu"), per_token=False)
    matcher.epoch(0)
    # class 0 (10 rows, batches 4 4 2): a chunk at 8 >= 6, leftover 2 < 6 // 2 dropped; class 1 (6 rows, 4 2): one
    assert sorted(calls) == [(6, 0.375, 2), (8, 0.625, 3)]
    assert matcher.last_steps == 2
    after = [*embedder.parameters(), *head.parameters()]
    assert all(not torch.equal(a, b) for a, b in zip(before, after))  # embedder and head both train


def test_an_image_body_trains_its_head_with_the_tau_penalty_then_aligns_with_the_original_solver(tmp_path,
                                                                                                   tiny_image_body):
    from orca.data import fetch
    from orca.stages.sources import build_source_features, save_source

    task = load_task("benchmarks/offline/digits.yaml", {"align": {"epochs": 2, "maxsamples": 16, "batch_size": 8}})
    fetch(task.data.loader, task.data.args, tmp_path / "data")
    save_source(build_source_features("swin-base", max_samples=40, body=tiny_image_body, image_source="photos"),
                tmp_path / "src.npz")
    settings = {"head_samples": 16, "head_plain_epochs": 1, "head_tau_epochs": 1, "tau": 0.0, "label_epochs": 1,
                "label_maxsamples": 8, "lb_samples": 40}
    rec, state = _run(tmp_path, "img", tiny_image_body, task=task, settings=settings, protocol="original",
                      backbone="swin-base")
    head = rec["recraft"]["head"]
    assert head["origin"].startswith("16 photograph crops") and head["samples"] == 16
    assert head["per_epoch"][0]["penalty"] is None and head["per_epoch"][1]["penalty"] > 0  # tau 0: always on
    assert rec["solver"] == "original" and rec["num_train"] == 1437 and all(np.isfinite(rec["distance_per_epoch"]))
    assert rec["recraft"]["label_matching"]["rows"] == 40 and rec["recraft"]["fa_samples_per_epoch"] == 24
    assert torch.isfinite(state["projection.weight"]).all()


def test_cifar10_source_samples_are_the_sources_stage_draw_augmented_from_the_generator(tmp_path, tiny_image_body,
                                                                                         monkeypatch):
    from orca.stages import sources
    from tests.test_sources import fake_cifar_archive

    (tmp_path / "cifar10").mkdir()
    facts = fake_cifar_archive(tmp_path / "cifar10" / sources.CIFAR10_ARCHIVE["name"])
    monkeypatch.setattr(sources, "CIFAR10_ARCHIVE", {**sources.CIFAR10_ARCHIVE, **facts})
    settings = {**resolve_settings("recraft"), "head_samples": 12}
    samples = rc.source_samples(tiny_image_body, "CIFAR-10, 12 training images", settings, tmp_path, rc.SOURCE_SEED,
                                8, torch.device("cpu"))
    images, labels = sources.cifar10_train_images(tmp_path, 12, 0)
    assert samples.origin.startswith("CIFAR-10") and torch.equal(samples.labels, torch.from_numpy(labels))
    assert np.array_equal(samples.images, images) and samples.epochs == 20 and samples.batch_size == 4
    idx = torch.arange(4)
    a = samples.pixels(idx, torch.Generator().manual_seed(0))
    b = samples.pixels(idx, torch.Generator().manual_seed(0))
    c = samples.pixels(idx, torch.Generator().manual_seed(1))
    assert a.shape == (4, 3, tiny_image_body.image_size, tiny_image_body.image_size)
    assert torch.equal(a, b) and not torch.equal(a, c)
    photos = rc.source_samples(tiny_image_body, "100 crops of scikit-learn sample photographs", settings, tmp_path,
                               rc.SOURCE_SEED, 8, torch.device("cpu"))
    assert photos.images is None and photos.size == 12 and photos.origin.startswith("12 photograph crops")


def test_a_run_stopped_in_label_matching_resumes_to_the_same_embedder(iris_with_source, text_body, monkeypatch):
    root = iris_with_source
    _, whole = _run(root, "r-whole", text_body)
    real = rc.LabelMatcher.epoch

    def crash(self, epoch):
        if epoch == 1:
            raise RuntimeError("node lost")
        return real(self, epoch)

    monkeypatch.setattr(rc.LabelMatcher, "epoch", crash)
    task = load_task("benchmarks/offline/iris.yaml", OVERRIDES)
    io = JobIO(root / "r-part", root / "data", checkpoint_dir=root / "ckpt", checkpoint_every_s=0,
               source=root / "src.npz")
    with pytest.raises(RuntimeError, match="node lost"):
        rc.run_recraft_align(_job(task, settings=FAST), io, body=text_body, **QUIET)
    monkeypatch.setattr(rc.LabelMatcher, "epoch", real)
    lines = []
    rec = rc.run_recraft_align(_job(task, settings=FAST), io, body=text_body, log=lines.append)
    resumed = torch.load(root / "r-part" / "embedder.pt", weights_only=True)
    assert any("resuming after" in line for line in lines) and len(rec["recraft"]["label_matching"]["loss_per_epoch"]) == 2
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert not list((root / "ckpt").iterdir())  # the checkpoint is removed once the run is done
