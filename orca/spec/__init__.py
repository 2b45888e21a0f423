"""What a job is asked to do: task files, evaluation protocols and the resolved settings of each job.

- :mod:`orca.spec.tasks`: ``load_task`` (task file -> validated ``Task``), ``find_task_files``, ``task_view``;
- :mod:`orca.spec.sections`: the typed sections of a task file (``RefineSpec``, ``AlignSpec``, ...);
- :mod:`orca.spec.protocols`: ``PROTOCOLS``, ``get_protocol``, ``selected_score`` (a leaf: imports nothing of orca);
- :mod:`orca.spec.jobs`: ``resolve_job`` (one job's settings document), ``JobSettings`` (``loads`` checks its
  hash), ``TASK_PATHS`` (what each stage reads), ``job_extras``, ``settings_hash``;
- :mod:`orca.spec.code_version`: ``stage_code_hash`` (the source of the modules a stage runs; ``cache_key``).
"""
