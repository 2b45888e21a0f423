"""Stand-ins for the ``pdebench_hdf5`` loader, in the released files' two layouts:

- ``arrays``: one top-level dataset per field, (N, T, *space) (or (N, *space) for ``input_fields`` and
  (N, 1, *space) for fields of a file without a time axis), plus ``x-coordinate`` / ``t-coordinate``;
- ``groups``: one group per sample (``0000``, ``0001``, ...) with ``data`` (T, *space, C) and ``grid/x``.

Space is the task's ``input.shape`` widened by ``reduced_resolution`` (and split back into fields when
``flatten_channels`` joins them); time has enough steps for ``t_in`` / ``t_out`` after ``reduced_resolution_t``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.loaders.hdf5_pde import _args, file_path
from ..runtime.process import atomic_output
from .registry import Size, register_writer


def _space(task, a: dict) -> tuple:
    shape = list(task.input.shape)
    sd, r = int(a["spatial_dims"]), int(a["reduced_resolution"])
    space = shape[-sd:]
    if a["flatten_channels"]:
        space = [space[-1] // len(a["fields"])]
    return tuple(d * r for d in space)


def _steps(a: dict) -> int:
    step = int(a["reduced_resolution_t"])
    need = max(abs(int(a["t_in"])), abs(int(a["t_out"]))) + 2
    return need * step


def _channels(task, a: dict) -> int:
    picks = [c for key in ("input_channels", "target_channels") for c in (a[key] or [])]
    return max([1, *[c + 1 for c in picks]])


@register_writer("loader", "pdebench_hdf5")
def write_pdebench(task, data_dir: Path, size: Size) -> list[Path]:
    import h5py

    a = _args(task.data.args)
    if a["generate"] is not None:
        return []  # fetch generates the file itself
    rng = size.rng(task.name)
    n, space, steps = size.train + size.test, _space(task, a), _steps(a)
    path = file_path(task.data.args, data_dir)
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        if a["layout"] == "groups":
            for i in range(n):
                g = f.create_group(f"{i:04d}")
                g.create_dataset("data", data=rng.normal(size=(steps, *space, _channels(task, a))).astype(np.float32))
                g.create_dataset("grid/x", data=np.linspace(0, 1, space[0], dtype=np.float32))
        else:
            inputs = [c for c in (a["input_fields"] or []) if c not in a["fields"]]
            for name in inputs:
                f.create_dataset(name, data=rng.normal(size=(n, *space)).astype(np.float32))
            for name in a["fields"]:
                time = (steps,) if a["time_axis"] else (1,)
                f.create_dataset(name, data=rng.normal(size=(n, *time, *space)).astype(np.float32))
            f.create_dataset("x-coordinate", data=np.linspace(0, 1, space[-1], dtype=np.float32))
            if a["time_axis"]:
                f.create_dataset("t-coordinate", data=np.linspace(0, 2, steps + 1, dtype=np.float32))
    return [path]
