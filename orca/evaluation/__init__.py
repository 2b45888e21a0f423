"""Scoring predictions: the metrics and how a protocol applies them.

- :mod:`orca.evaluation.metrics`: ``METRICS``, ``get_metric`` (a metric's direction and display name);
- :mod:`orca.evaluation.scoring`: ``score``, ``make_scorer`` (whole-set or the original's chunked metric),
  ``group_mean``.
"""
