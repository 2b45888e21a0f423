"""Drug response preparation (``drugcell`` step) and the prepare machinery, on DrugCell-layout fixtures."""
import hashlib
import json

import numpy as np
import pytest
import yaml

from orca.data import DataFormatError, DataUnavailableError, fetch, load_task_data
from orca.data.preparation.drug_response import prepare_drugcell, split_rows
from orca.data.preparation.prepare import (
    check_prepare,
    resolve_args,
    run_prepare,
    sha256_array,
)
from orca.cli import main as orca_main
from orca.spec.tasks import TaskError, load_task
from tests.workflow.test_e2e import REPO

RNG = np.random.default_rng(0)
CELLS = ["NCIH810_LUNG", "HN_UPPER_AERODIGESTIVE_TRACT", "COV434_OVARY", "PC3_PROSTATE", "697_HAEMATOPOIETIC_AND_LYMPHOID_TISSUE"]
DRUGS = ["CNC(=O)C1=NC=CC(=C1)OC2=CC=C(C=C2)F", "C[C@@H](C(=O)N[C@H]1C2=CC=CC=C2CCN(C1=O)C)O", "C1=CC=C(C=C1)CCN=C(N)N=C(N)N",
         "CC1=C(SC(=N1)NC(=O)C)S(=O)(=O)NC2=CC=C(C=C2)C(C(F)(F)F)(C(F)(F)F)O"]
N_GENES, N_BITS = 7, 6


def write_drugcell(folder, n_pairs=40, nan_at=None):
    """DrugCell-layout tables (cell2ind, cell2mutation, drug2ind, drug2fingerprint, pairs) -> facts for checks."""
    folder.mkdir(parents=True, exist_ok=True)
    cell_order, drug_order = RNG.permutation(len(CELLS)), RNG.permutation(len(DRUGS))  # index != list position
    mut = RNG.integers(0, 2, (len(CELLS), N_GENES))
    fp = RNG.integers(0, 2, (len(DRUGS), N_BITS))
    (folder / "cell2ind.txt").write_text("".join(f"{i}\t{CELLS[c]}\n" for i, c in enumerate(cell_order)))
    (folder / "drug2ind.txt").write_text("".join(f"{i}\t{DRUGS[d]}\n" for i, d in enumerate(drug_order)))
    (folder / "cell2mutation.txt").write_text("".join(",".join(map(str, mut[c])) + "\n" for c in cell_order))
    (folder / "drug2fingerprint.txt").write_text("".join(",".join(map(str, fp[d])) + "\n" for d in drug_order))
    pairs = [(int(RNG.integers(len(CELLS))), int(RNG.integers(len(DRUGS))), float(RNG.uniform(0.1, 1.2)))
             for _ in range(n_pairs)]
    lines = [f"{CELLS[c]}\t{DRUGS[d]}\t{'nan' if k == nan_at else repr(r)}\n" for k, (c, d, r) in enumerate(pairs)]
    (folder / "gdsc_pairs.txt").write_text("".join(lines))
    return {"mut": mut, "fp": fp, "pairs": pairs}


ARGS = {"pairs": "gdsc_pairs.txt", "out_prefix": "drug_sep/gdsc", "test_fraction": 0.2, "clip_max": 1.0, "split_seed": 0,
        "cell_index": "cell2ind.txt", "drug_index": "drug2ind.txt", "cell_features": "cell2mutation.txt",
        "drug_features": "drug2fingerprint.txt"}


def test_features_are_drug_fingerprint_then_cell_mutations_with_orca_split_and_clip(tmp_path):
    facts = write_drugcell(tmp_path, nan_at=3)
    written = prepare_drugcell(tmp_path, tmp_path, ARGS)
    assert sorted(written) == sorted(f"drug_sep/gdsc_{s}_{k}.npy" for s in ("train", "test") for k in ("feat", "label"))
    train, test = split_rows(40, 0.2, 0)
    assert len(test) == 8 and len(train) == 32  # ORCA: the last int(0.2 N) of a permutation
    for split, rows in (("train", train), ("test", test)):
        x = np.load(tmp_path / f"drug_sep/gdsc_{split}_feat.npy")
        y = np.load(tmp_path / f"drug_sep/gdsc_{split}_label.npy")
        assert x.shape == (len(rows), 1, N_BITS + N_GENES) and x.dtype == np.float32
        assert y.shape == (len(rows), 1) and y.dtype == np.float32
        for k, r in enumerate(rows):
            c, d, resp = facts["pairs"][r]
            np.testing.assert_array_equal(x[k, 0], np.concatenate([facts["fp"][d], facts["mut"][c]]))
            if r == 3:
                assert np.isnan(y[k, 0])  # a missing response stays missing
            else:
                assert y[k, 0] == pytest.approx(min(resp, 1.0))
    assert np.nanmax(np.load(tmp_path / "drug_sep/gdsc_train_label.npy")) <= 1.0


def test_unknown_cell_and_short_feature_matrix_are_named(tmp_path):
    write_drugcell(tmp_path)
    with open(tmp_path / "gdsc_pairs.txt", "a") as fh:
        fh.write(f"NOT_A_CELL_LINE\t{DRUGS[0]}\t0.5\n")
    with pytest.raises(DataFormatError, match=r"not in cell2ind.txt .*NOT_A_CELL_LINE"):
        prepare_drugcell(tmp_path, tmp_path, ARGS)
    write_drugcell(tmp_path)
    lines = (tmp_path / "drug2fingerprint.txt").read_text().splitlines()
    (tmp_path / "drug2fingerprint.txt").write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(DataFormatError, match="drug2fingerprint.txt has 2 rows"):
        prepare_drugcell(tmp_path, tmp_path, ARGS)


def _prepare(**args):
    files = [{"name": ARGS[k], "note": "fixture"} for k in ("pairs", "cell_index", "drug_index", "cell_features",
                                                             "drug_features")]
    return {"step": "drugcell", "files": files, "args": {**ARGS, **args}}


def test_run_prepare_records_provenance_and_skips_when_up_to_date(tmp_path):
    root = tmp_path / "drug"
    write_drugcell(root)
    prov = run_prepare("drug-gdsc", _prepare(), tmp_path, {"root": "drug"}, log=lambda m: None)
    rec = json.loads((root / "drug-gdsc.prepare.json").read_text())
    assert rec == json.loads(json.dumps(prov)) and rec["step"] == "drugcell"
    assert {e["name"]: e["sha256"] for e in rec["inputs"]}["gdsc_pairs.txt"] == hashlib.sha256((root / "gdsc_pairs.txt").read_bytes()).hexdigest()
    out = {e["name"]: e for e in rec["outputs"]}
    feat = np.load(root / "drug_sep/gdsc_train_feat.npy")
    assert out["drug_sep/gdsc_train_feat.npy"]["arrays"][""]["sha256"] == sha256_array(feat)
    assert out["drug_sep/gdsc_train_feat.npy"]["sha256"] == hashlib.sha256((root / "drug_sep/gdsc_train_feat.npy").read_bytes()).hexdigest()
    mtime = (root / "drug_sep/gdsc_train_feat.npy").stat().st_mtime_ns
    msgs = []
    run_prepare("drug-gdsc", _prepare(), tmp_path, {"root": "drug"}, log=msgs.append)
    assert "up to date" in msgs[0] and (root / "drug_sep/gdsc_train_feat.npy").stat().st_mtime_ns == mtime
    run_prepare("drug-gdsc", _prepare(split_seed=1), tmp_path, {"root": "drug"}, log=msgs.append)  # new args: rerun
    assert "step drugcell" in msgs[-2]
    assert not np.array_equal(np.load(root / "drug_sep/gdsc_train_feat.npy"), feat)


def test_missing_raw_file_names_its_path(tmp_path):
    with pytest.raises(DataUnavailableError, match=str(tmp_path / "drug" / "gdsc_pairs.txt")):
        run_prepare("drug-gdsc", _prepare(), tmp_path, {"root": "drug"}, log=lambda m: None)


def test_prepare_section_is_validated():
    check_prepare(_prepare())
    assert resolve_args({"step": "drugcell", "files": _prepare()["files"],
                         "args": {"pairs": "gdsc_pairs.txt", "out_prefix": "x"}})["test_fraction"] == 0.2
    with pytest.raises(ValueError, match="unknown preparation step 'drugcel'.*drugcell"):
        check_prepare({**_prepare(), "step": "drugcel"})
    with pytest.raises(ValueError, match=r"unknown args \['clip'\]"):
        check_prepare(_prepare(clip=1.0))
    with pytest.raises(ValueError, match="args.pairs names 'other.txt', which is not in prepare.files"):
        check_prepare(_prepare(pairs="other.txt"))
    with pytest.raises(ValueError, match="test_fraction must be in"):
        check_prepare(_prepare(test_fraction=1.5))
    with pytest.raises(ValueError, match=r"args \['out_prefix', 'pairs'\] are required"):
        check_prepare({"step": "drugcell", "files": _prepare()["files"], "args": {}})


def _task_file(tmp_path, prepare_update: dict) -> str:
    spec = yaml.safe_load((REPO / "benchmarks/drug/drug-gdsc.yaml").read_text())
    spec["prepare"].update(prepare_update)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_task_file_prepare_errors_name_the_field(tmp_path):
    with pytest.raises(TaskError, match="at prepare: unknown preparation step"):
        load_task(_task_file(tmp_path, {"step": "nope"}))
    with pytest.raises(TaskError, match=r"at prepare.files.0: .* is not valid"):  # neither urls nor note
        load_task(_task_file(tmp_path, {"files": [{"name": "raw/gdsc_pairs.txt"}]}))


def test_drug_task_file_end_to_end_prepare_then_fetch_then_load(tmp_path, capsys):
    """The real task file: prepare (CLI) from raw tables in place, then orca's fetch and loader read the outputs."""
    task = load_task(REPO / "benchmarks/drug/drug-gdsc.yaml")
    cli = ["--task", str(task.path), "--data-dir", str(tmp_path)]
    assert orca_main(["prepare", *cli]) == 2  # nothing in place: the message gives the exact path to put the file at
    assert str(tmp_path / "drug" / "raw" / "gdsc_pairs.txt") in capsys.readouterr().err
    write_drugcell(tmp_path / "drug" / "raw")
    stamp = tmp_path / "stamp.json"
    assert orca_main(["prepare", *cli, "--done", str(stamp)]) == 0
    assert json.loads(stamp.read_text())["outputs"][0]["name"].startswith("drug_sep/gdsc_")
    fetch(task.spec["data"]["loader"], task.spec["data"]["args"], tmp_path)
    d = load_task_data(task.spec["data"]["loader"], task.spec["data"]["args"], 0, tmp_path)
    assert d.x_train.shape == (32, 1, N_BITS + N_GENES) and d.y_train.shape == (32, 1) and d.x_test.shape[0] == 8
