"""Rehearsal marks: outputs and bodies change only in a rehearsal (the job's mode, passed explicitly)."""
import pandas as pd
import torch

from orca.model.backbones import load_body
from orca.rehearsal import LABEL
from orca.rehearsal.marking import mark_frame, title


def test_marks_only_in_a_rehearsal(monkeypatch):
    df = pd.DataFrame({"task": ["a"], "mean": [1.0]})
    monkeypatch.setenv("ORCA_REHEARSAL", "1")  # no longer read: the environment changes nothing
    assert title("nb360", False) == "nb360" and mark_frame(df, False) is df
    assert LABEL in title("nb360", True)
    marked = mark_frame(df, True)
    assert list(marked.columns) == ["rehearsal", "task", "mean"] and marked["rehearsal"].all()


def test_rehearsal_bodies_are_tiny_and_the_same_in_every_job(monkeypatch):
    a, b = load_body("roberta-base", rehearsal=True), load_body("roberta-base", rehearsal=True)
    assert a.width == 32 and len(a.encoder.layer) == 2
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    random = load_body("roberta-base", pretrained=False, rehearsal=True)  # the random-body control stays random
    assert random.width == 32 and not all(torch.equal(p, q) for p, q in zip(a.parameters(), random.parameters()))
    swin = load_body("swin-base", rehearsal=True)
    assert swin.width == 16 and swin.spec.name == "swin-base"
