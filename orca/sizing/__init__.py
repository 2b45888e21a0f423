"""Sizing: every distinct job shape of a config measured at its real size (full-size bodies, real per-sample
shapes, real batch sizes), and the cost of a table computed from those measurements (README: "What does a
table cost?", docs/sizing.md). Sizing records are measurements, never results: they live in their own folder."""
