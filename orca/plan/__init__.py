"""Planning the grid for the Snakefile: validated config names, tasks, every job's settings and paths.

- :mod:`orca.plan.grid`: ``Grid`` (tables -> tasks x backbones x methods x protocols x seeds), ``RUN_PATH``,
  ``BASELINE_PATH``, ``ALIGN_DIR``, ``ConfigError``.
"""
