"""Drug response (GDSC / CTRP) from DrugCell-format raw tables: the ORCA code's ``prepare_train_data``.

Raw inputs (the DrugCell release format, github.com/idekerlab/DrugCell, README "Required input files"):

==========================  =====================================================================
``pairs``                   tab-separated, no header: cell-line name, drug id (SMILES), response
                            (area under the dose-response curve), one (cell, drug) pair per line
``cell2ind.txt``            tab-separated: index, cell-line name
``drug2ind.txt``            tab-separated: index, drug id
``cell2mutation.txt``       comma-separated, no header: row i = binary mutation vector of cell i
``drug2fingerprint.txt``    comma-separated, no header: row i = Morgan fingerprint bits of drug i
==========================  =====================================================================

Model inputs, as ORCA's ``prepare_train_data`` / ``build_input_vector`` build them: per pair the
drug's fingerprint followed by the cell line's mutation vector, float32 ``(N, 1, D_drug + D_cell)``;
target ``min(response, clip_max)`` float32 ``(N, 1)`` (ORCA clips at 1.0; a missing response stays
NaN). Split: a permutation of the pairs (seeded here, unseeded in ORCA), the last
``int(test_fraction * N)`` pairs are the test set (ORCA: 0.2). Written as
``<out_prefix>_{train,test}_{feat,label}.npy``, the files ORCA's ``load_drug`` reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...runtime.process import atomic_output
from ..core import DataFormatError
from .prepare import REQUIRED, register_preparer

DEFAULTS = {
    "pairs": REQUIRED, "out_prefix": REQUIRED,
    "cell_index": "cell2ind.txt", "drug_index": "drug2ind.txt",
    "cell_features": "cell2mutation.txt", "drug_features": "drug2fingerprint.txt",
    "test_fraction": 0.2, "clip_max": 1.0, "split_seed": 0,
}
FILE_ARGS = ("pairs", "cell_index", "drug_index", "cell_features", "drug_features")
ROW_BLOCK = 65536  # pairs written per block (bounds memory for the 10^5-10^6 pairs of GDSC/CTRP)


def read_index(path: Path) -> dict[str, int]:
    """``cell2ind.txt`` / ``drug2ind.txt`` (index TAB name per line) -> {name: index}."""
    import pandas as pd

    try:
        df = pd.read_csv(path, sep="\t", header=None, names=["index", "name"], dtype={"name": str},
                         keep_default_na=False, quoting=3)
        index = df["index"].astype(np.int64).to_numpy()
    except (ValueError, pd.errors.ParserError) as e:
        raise DataFormatError(f"{path}: not an 'index<TAB>name' table ({e})") from e
    if len(set(df["name"])) != len(df):
        raise DataFormatError(f"{path}: a name appears twice; each line must name one cell line / drug")
    return dict(zip(df["name"], index.tolist()))


def read_matrix(path: Path) -> np.ndarray:
    """A comma-separated feature matrix without header -> float32 (rows, features)."""
    import pandas as pd

    try:
        m = pd.read_csv(path, header=None, dtype=np.float32).to_numpy()
    except (ValueError, pd.errors.ParserError) as e:
        raise DataFormatError(f"{path}: not a comma-separated numeric matrix without header ({e})") from e
    if m.ndim != 2 or m.shape[0] == 0:
        raise DataFormatError(f"{path}: expected one feature row per cell line / drug, got shape {m.shape}")
    return m


def read_pairs(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The response table (cell TAB drug TAB response, no header) -> cells, drugs, responses (float64)."""
    import pandas as pd

    try:
        df = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2], names=["cell", "drug", "response"],
                         dtype={"cell": str, "drug": str}, keep_default_na=False, na_values={"response": ["", "NA", "nan", "NaN"]},
                         quoting=3)
        resp = pd.to_numeric(df["response"], errors="raise").to_numpy(np.float64)
    except (ValueError, pd.errors.ParserError) as e:
        raise DataFormatError(f"{path}: not a 'cell<TAB>drug<TAB>response' table ({e})") from e
    if len(df) == 0:
        raise DataFormatError(f"{path}: no (cell, drug, response) rows")
    return df["cell"].to_numpy(), df["drug"].to_numpy(), resp


def _lookup(names: np.ndarray, index: dict[str, int], n_rows: int, what: str, files: tuple[str, str]) -> np.ndarray:
    """Row indices of ``names`` in the feature matrix; unknown names or rows past its end -> DataFormatError."""
    idx = np.array([index.get(n, -1) for n in names], dtype=np.int64)
    unknown = sorted({str(n) for n, i in zip(names, idx) if i < 0})
    if unknown:
        raise DataFormatError(f"{len(unknown)} {what} names in the pairs file are not in {files[0]} "
                              f"(e.g. {unknown[:3]}); the pairs file and {files[0]} must use the same names")
    if idx.max() >= n_rows or idx.min() < 0:
        raise DataFormatError(f"{files[0]} points at row {int(idx.max())} but {files[1]} has {n_rows} rows")
    return idx


def _write_split(path_feat: Path, path_label: Path, rows: np.ndarray, drug_rows: np.ndarray, cell_rows: np.ndarray,
                 drug_m: np.ndarray, cell_m: np.ndarray, y: np.ndarray) -> None:
    """feat (n, 1, D_drug + D_cell) float32 written in blocks; label (n, 1) float32."""
    d = drug_m.shape[1] + cell_m.shape[1]
    with atomic_output(path_feat) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(rows), 1, d))
        for s in range(0, len(rows), ROW_BLOCK):
            r = rows[s:s + ROW_BLOCK]
            out[s:s + len(r), 0, :drug_m.shape[1]] = drug_m[drug_rows[r]]
            out[s:s + len(r), 0, drug_m.shape[1]:] = cell_m[cell_rows[r]]
        out.flush()
        del out
    with atomic_output(path_label) as tmp, open(tmp, "wb") as fh:
        np.save(fh, y[rows].astype(np.float32)[:, None])


def split_rows(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """ORCA's split: permute the n pairs, the last ``int(test_fraction * n)`` are the test set."""
    n_test = int(float(test_fraction) * n)
    if not 0 < n_test < n:
        raise DataFormatError(f"test_fraction {test_fraction} of {n} pairs leaves an empty train or test set")
    perm = np.random.default_rng(int(seed)).permutation(n)
    return perm[:-n_test], perm[-n_test:]


def check_args(a: dict) -> None:
    if not 0 < float(a["test_fraction"]) < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {a['test_fraction']}")
    if not str(a["out_prefix"]).strip():
        raise ValueError("out_prefix must name the output files, e.g. drug_sep/gdsc")


@register_preparer("drugcell", DEFAULTS, FILE_ARGS, check_args)
def prepare_drugcell(raw_dir: Path, out_dir: Path, args: dict) -> list[str]:
    """DrugCell tables -> ``<out_prefix>_{train,test}_{feat,label}.npy`` (see the module docstring)."""
    raw = {k: Path(raw_dir) / args[k] for k in FILE_ARGS}
    cells, drugs, resp = read_pairs(raw["pairs"])
    cell_m, drug_m = read_matrix(raw["cell_features"]), read_matrix(raw["drug_features"])
    cell_rows = _lookup(cells, read_index(raw["cell_index"]), len(cell_m), "cell-line",
                        (args["cell_index"], args["cell_features"]))
    drug_rows = _lookup(drugs, read_index(raw["drug_index"]), len(drug_m), "drug",
                        (args["drug_index"], args["drug_features"]))
    y = resp if args["clip_max"] is None else np.minimum(resp, float(args["clip_max"]))
    train, test = split_rows(len(y), args["test_fraction"], args["split_seed"])
    written = []
    for split, rows in (("train", train), ("test", test)):
        feat, label = f"{args['out_prefix']}_{split}_feat.npy", f"{args['out_prefix']}_{split}_label.npy"
        _write_split(Path(out_dir) / feat, Path(out_dir) / label, rows, drug_rows, cell_rows, drug_m, cell_m, y)
        written += [feat, label]
    return written
