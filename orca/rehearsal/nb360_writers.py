"""Stand-in raw archives of the NAS-Bench-360 prepare steps, in the archives' own layouts:

- ``nb360_ecg``: ``challenge2017.pkl``, a pickled dict {data: variable-length records, label: N/A/O/~};
- ``nb360_psicov``: ``protein.zip`` with ``protein/<set>.lst`` lists, ``<set>/features/<id>.pkl`` feature
  dicts and ``<set>/distance/<id>-cb.npy`` (pickled [L, seq, distance map]);
- ``nb360_cosmic``: ``deepCR.ACS-WFC.<split>.tar`` with ``npy_<split>/<filter>/<proposal>/<visit>/<k>_*.npy``
  (3, H, W) image / cosmic-ray mask / ignore mask stacks and a ``sky.npy`` per visit.

File names and the arguments that shape them (window, labels, lists, filter, fields, crop) come from the
task's ``prepare.args`` with the step's defaults; where they go from ``prepare.root`` / ``data.args.root``.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from ..runtime.process import atomic_write_bytes
from .containers import write_tar
from .registry import Size, prepared_root_and_args, register_writer


@register_writer("prepare", "nb360_ecg")
def write_ecg(task, data_dir: Path, size: Size) -> list[Path]:
    """Records of 2-4 windows each, every label present in both splits of the record split."""
    root, a = prepared_root_and_args(task, data_dir)
    rng = size.rng(task.name)
    n = size.train + size.test
    labels = [a["labels"][i % len(a["labels"])] for i in range(n)]
    window = int(a["window"])
    data = np.empty(n, dtype=object)
    for i in range(n):
        data[i] = rng.normal(0.0, 1.0, int(window * rng.uniform(1.05, 1.4))).astype(np.float64)
    path = root / a["file"]
    atomic_write_bytes(path, pickle.dumps({"data": data, "label": np.array(labels)}, protocol=2))
    return [path]


def _protein(length: int, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """One protein's feature dict (sequence, secondary structure, PSSM, pair potentials) and Cb distances."""
    feats = {"seq": "A" * length, "ss": rng.random((3, length)), "pssm": rng.random((length, 22)),
             "sa": rng.random(length), "entropy": rng.random(length), "ccmpred": rng.random((length, length)),
             "freecon": rng.random((length, length)), "potential": rng.random((length, length))}
    cb = rng.uniform(3.0, 30.0, (length, length))
    cb = (cb + cb.T) / 2
    cb[rng.random((length, length)) < 0.1] = 6.0  # some contacts (< 8 A) at every range
    return feats, np.minimum(cb, cb.T)


@register_writer("prepare", "nb360_psicov")
def write_psicov(task, data_dir: Path, size: Size) -> list[Path]:
    """``protein.zip``: a few short proteins per list (each padded into the step's window)."""
    root, a = prepared_root_and_args(task, data_dir)
    rng = size.rng(task.name)
    sets = {a["train_list"]: (a["sets"][0], max(2, size.train // 8)), a["test_list"]: (a["sets"][1], 2)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for lst, (folder, count) in sets.items():
            # long enough for long-range pairs (|i - j| >= 24, as MAE8 scores them), short to stay cheap
            items = [(f"{k}{folder[:3]}A", int(rng.integers(48, 64))) for k in range(count)]
            z.writestr(f"protein/{lst}", "".join(f"{pid} {length}\n" for pid, length in items))
            for pid, length in items:
                feats, cb = _protein(length, rng)
                z.writestr(f"protein/{folder}/features/{pid}.pkl", pickle.dumps(feats, protocol=2))
                arr = io.BytesIO()
                np.save(arr, np.array([length, feats["seq"], cb], dtype=object), allow_pickle=True)
                z.writestr(f"protein/{folder}/distance/{pid}-cb.npy", arr.getvalue())
    path = root / a["archive"]
    atomic_write_bytes(path, buf.getvalue())
    return [path]


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@register_writer("prepare", "nb360_cosmic")
def write_cosmic(task, data_dir: Path, size: Size) -> list[Path]:
    """Train and test tars: frames of the step's filter in its listed fields, large enough for its crop."""
    root, a = prepared_root_and_args(task, data_dir)
    rng = size.rng(task.name)
    top, left, side = (int(v) for v in a["crop"])
    hw = max(top, left) + side + 8
    written = []
    for split, archive, count in (("train", a["train_archive"], size.train), ("test", a["test_archive"], size.test)):
        members = {}
        fields = list(a["fields"])[: max(1, count // 4)] if split == "train" else list(a["fields"])[-1:]
        for j in range(count):
            proposal, visit = fields[j % len(fields)].split("_", 1)
            stack = np.stack([rng.normal(100.0, 10.0, (hw, hw)), rng.random((hw, hw)) < 0.05,
                              rng.random((hw, hw)) < 0.1]).astype(np.float32)
            members[f"./npy_{split}/{a['filter']}/{proposal}/{visit}/{j + 1}_frame.npy"] = _npy(stack)
        for field in fields:
            proposal, visit = field.split("_", 1)
            members[f"./npy_{split}/{a['filter']}/{proposal}/{visit}/sky.npy"] = _npy(rng.uniform(10, 40, count + 1))
        written.append(write_tar(root / archive, members))
    return written
