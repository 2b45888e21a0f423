"""The machine a job runs on: threads, devices, seeds, atomic writes, GPUs and the warm worker.

- :mod:`orca.runtime.process`: ``set_threads``, ``pick_device``, ``seed_everything``, ``atomic_write_json``,
  ``atomic_torch_save``, ``check_writable``, ``provenance``;
- :mod:`orca.runtime.gpus`: ``visible_devices_for_job`` (one free GPU per job from ``$ORCA_GPUS``);
- :mod:`orca.runtime.warm`, :mod:`orca.runtime.warm_client`: the warm worker jobs fork from (local runs).
"""
