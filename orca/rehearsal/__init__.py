"""Rehearsal: every paper table built end to end on stand-in data with tiny random bodies.

A rehearsal run (``snakemake --configfile config/rehearsal.yaml``) sets ``rehearsal: true`` in the
config; the planner turns that into every job's ``mode: rehearsal`` setting (orca.spec.jobs: it is part of
the settings hash, so a rehearsal result never shares a cache key with a real one), passed explicitly:

- fetch skips checksum and size checks of raw files in a stand-in data folder (one holding the
  ``REHEARSAL-STANDINS`` marker), and says so (``orca.data.download.fetching.verify``); a real job refuses
  such a folder and a rehearsal job any other;
- every body is a tiny, seeded, randomly initialised copy of its real architecture
  (``orca.model.backbones.load_body(rehearsal=True)``);
- every table output is marked as a rehearsal (:mod:`orca.rehearsal.marking`).

Stand-in raw data, in each row's real layout, are written by :mod:`orca.rehearsal.standins`
(``orca standin --task T --data-dir D``; the workflow's ``standin`` rule).
"""
from __future__ import annotations

LABEL = "REHEARSAL: stand-in data, tiny random bodies; not a result"
BODY_SEED = 20230101  # the tiny stand-in 'pretrained' body: the same in every job, unlike a run seed's random body
