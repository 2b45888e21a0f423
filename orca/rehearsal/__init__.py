"""Rehearsal: every paper table built end to end on stand-in data with tiny random bodies.

A rehearsal run (``snakemake --configfile config/rehearsal.yaml``) sets ``rehearsal: true`` in the
config; ``workflow/rules/common.smk`` turns that into the environment variable ``ORCA_REHEARSAL=1`` (:func:`announce`),
read here (:func:`active`) and nowhere else. While it is set:

- fetch skips checksum and size checks of raw files, and says so (``orca.data.download.fetching.verify``);
- every body is a tiny, seeded, randomly initialised copy of its real architecture
  (``orca.model.backbones.load_body``);
- every table output is marked as a rehearsal (:mod:`orca.rehearsal.marking`).

Stand-in raw data, in each row's real layout, are written by :mod:`orca.rehearsal.standins`
(``orca standin --task T --data-dir D``; the workflow's ``standin`` rule).
"""
from __future__ import annotations

import os

ENV_FLAG = "ORCA_REHEARSAL"
LABEL = "REHEARSAL: stand-in data, tiny random bodies; not a result"
BODY_SEED = 20230101  # the tiny stand-in 'pretrained' body: the same in every job, unlike a run seed's random body


def announce(on: bool) -> None:
    """Tell every job of this workflow run whether it is a rehearsal (called once by the Snakefile, set either
    way so that a stray value in the user's shell never leaks into a real run)."""
    os.environ[ENV_FLAG] = "1" if on else "0"


def active() -> bool:
    """True when this process runs for a rehearsal (``ORCA_REHEARSAL=1``)."""
    return os.environ.get(ENV_FLAG, "").strip().lower() in ("1", "true", "yes")
