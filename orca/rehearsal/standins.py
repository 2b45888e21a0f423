"""Stand-in raw data for a task, written in the layout its loader or prepare step reads.

One writer per on-disk format family, registered by loader name (``loader:<name>``) or by
preparation step (``prepare:<step>``); :func:`write_standins` picks the writer from the task
file's declared data (a task with a ``prepare:`` step gets its raw inputs, the others the files
its loader reads), never from the dataset's name. Writers derive file names, keys, archive
members and shapes from the task file (``data.args``, ``prepare.files`` / ``prepare.args``,
``input.shape``, ``output``), so fetch, the prepare step and the loader run unchanged on them.

Sizes are tiny: ``Size.train`` / ``Size.test`` samples (a few dozen) per split.
A record ``<data_dir>/standins/<task>.json`` lists what was written; a second call with the same
task settings does nothing.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..data.download.fetching import STANDIN_MARKER
from ..runtime.process import atomic_write_json
from .registry import WRITERS, Size, register_writer  # noqa: F401  (Size, register_writer: re-exported)


def writer_key(task) -> str:
    """``prepare:<step>`` for a task with a prepare step, else ``loader:<loader>``."""
    return f"prepare:{task.prepare.step}" if task.prepare else f"loader:{task.data.loader}"


def _load_writers() -> None:
    from . import arrays_writer, nb360_writers, openml_writer, pdebench_writer, prepared_writers  # noqa: F401


MARKER = STANDIN_MARKER  # file in a data folder that holds stand-ins (and nothing else)


def _claim(data_dir: Path) -> None:
    """Refuse a data folder that holds anything but stand-ins: real raw data are never overwritten."""
    marker = data_dir / MARKER
    if marker.is_file():
        return
    if data_dir.is_dir() and any(data_dir.iterdir()):
        raise ValueError(f"{data_dir} holds files and is not a rehearsal data folder (no {MARKER} file): "
                         "stand-ins go only into a folder of their own; set the rehearsal config's data_dir "
                         "to an empty or new folder")
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("Stand-in data written by orca.rehearsal: random values in the real layouts, not data.\n")


DEFAULT_SIZE = Size()


def write_standins(task, data_dir: Path, size: Size = DEFAULT_SIZE, record: Path | None = None) -> list[Path]:
    """Write ``task``'s stand-in raw files under ``data_dir``; return their paths.

    ``record``: where to write the list of written files (default ``<data_dir>/standins/<task>.json``).
    Raises ValueError naming the loader / step when no writer exists for it.
    """
    _load_writers()
    key = writer_key(task)
    if key not in WRITERS:
        raise ValueError(f"no stand-in writer for {key!r} (task {task.name}); writers exist for "
                         f"{', '.join(sorted(WRITERS))}: add one in orca/rehearsal/")
    data_dir = Path(data_dir)
    _claim(data_dir)
    record = Path(record) if record else data_dir / "standins" / f"{task.name}.json"
    settings = {"writer": key, "data": asdict(task.data), "prepare": task.prepare and task.prepare.mapping(),
                "input": asdict(task.input), "output": asdict(task.output), "size": asdict(size)}
    if record.is_file():
        old = json.loads(record.read_text())
        if old.get("settings") == json.loads(json.dumps(settings, default=str)) and \
                all(Path(p).exists() for p in old.get("files", [])):
            return [Path(p) for p in old["files"]]
    written = WRITERS[key](task, data_dir, size)
    atomic_write_json(record, {"task": task.name, "rehearsal": True, "settings": settings,
                               "files": [str(p) for p in written]})
    return written
