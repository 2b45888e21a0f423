"""Stand-in raw inputs of the other prepare steps, in their sources' layouts:

- ``nb360_fsd50k``: the chunk archive (``audio.zip``): ``chunks/<manifest>.csv`` (files, labels, ext),
  ``chunks/<label map>.json`` and 1-s chunk wavs (16-bit PCM at the step's sample rate) in
  ``dev_22050_chunks/`` and ``eval_22050_chunks/``, 1-3 chunks per clip;
- ``drugcell``: DrugCell-release tables (cell2ind, cell2mutation, drug2ind, drug2fingerprint) and a
  pairs table (cell TAB drug TAB response) at the paths the step's args name.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ..runtime.process import atomic_write_bytes, atomic_write_text
from .registry import Size, prepared_root_and_args, register_writer

N_GENES = 3008  # DrugCell's mutation vector length
N_BITS = 2048  # Morgan fingerprint bits


def _wav(x: np.ndarray, rate: int) -> bytes:
    from scipy.io import wavfile

    buf = io.BytesIO()
    wavfile.write(buf, rate, (np.clip(x, -1, 1) * 32767).astype(np.int16))
    return buf.getvalue()


@register_writer("prepare", "nb360_fsd50k")
def write_fsd50k(task, data_dir: Path, size: Size) -> list[Path]:
    """Clips with 1-3 chunks and 1-3 of the task's ``output.num_outputs`` labels each."""
    root, a = prepared_root_and_args(task, data_dir)
    rng = size.rng(task.name)
    rate = int(a["sample_rate"])
    names = [f"label_{i:03d}" for i in range(int(task.output.num_outputs))]
    manifests = {a["train_manifest"]: ("dev", max(2, size.train // 2)), "val.csv": ("dev", 2),
                 a["test_manifest"]: ("eval", max(2, size.test // 2))}
    buf = io.BytesIO()
    clip = 1000
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"chunks/{a['label_map']}", json.dumps({n: i for i, n in enumerate(names)}))
        for manifest, (part, clips) in manifests.items():
            folder = f"{part}_22050_chunks"
            rows = ["files,labels,ext"]
            for _ in range(clips):
                clip += 1
                labels = ",".join(rng.choice(names, int(rng.integers(1, 4)), replace=False))
                for k in range(int(rng.integers(1, 4))):
                    name = f"{clip}_{k:04d}.wav"
                    z.writestr(f"{folder}/{name}", _wav(rng.normal(0, 0.3, rate), rate))
                    rows.append(f'/data/fsd50k/{folder}/{name},"{labels}",{clip}')
            z.writestr(f"chunks/{manifest}", "\n".join(rows) + "\n")
    path = root / a["archive"]
    atomic_write_bytes(path, buf.getvalue())
    return [path]


@register_writer("prepare", "drugcell")
def write_drugcell(task, data_dir: Path, size: Size) -> list[Path]:
    """A few cell lines and drugs, ``Size.train + Size.test`` (cell, drug, response) pairs."""
    root, a = prepared_root_and_args(task, data_dir)
    rng = size.rng(task.name)
    cells = [f"CELL-{i}" for i in range(8)]
    drugs = [f"C{'C' * i}O" for i in range(6)]  # SMILES-like drug ids
    tables = {
        a["cell_index"]: "".join(f"{i}\t{c}\n" for i, c in enumerate(cells)),
        a["drug_index"]: "".join(f"{i}\t{d}\n" for i, d in enumerate(drugs)),
        a["cell_features"]: "".join(",".join(map(str, rng.integers(0, 2, N_GENES))) + "\n" for _ in cells),
        a["drug_features"]: "".join(",".join(map(str, rng.integers(0, 2, N_BITS))) + "\n" for _ in drugs),
        a["pairs"]: "".join(f"{cells[rng.integers(len(cells))]}\t{drugs[rng.integers(len(drugs))]}\t"
                            f"{rng.uniform(0.1, 1.2):.4f}\n" for _ in range(size.train + size.test)),
    }
    written = []
    for name, text in tables.items():
        atomic_write_text(root / name, text)
        written.append(root / name)
    return written
