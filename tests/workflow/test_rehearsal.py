"""The rehearsal (config/rehearsal.yaml) through the real workflow: stand-in data, tiny bodies, marked outputs.

The CI subset covers every loader, prepare step, output kind, paper table and aligner in a few minutes on
2 cores; the full rehearsal (every paper row x every aligner) is slow-marked (README: Rehearsal).
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from orca.spec.tasks import find_task_files, load_task
from tests.workflow.test_e2e import REPO

REHEARSAL = REPO / "config" / "rehearsal.yaml"
# one row per loader, prepare step, output kind (and head), paper table; the aligners spread over the tables
SUBSET = {
    "nb360": {"tasks": ["psicov", "fsd50k", "ecg", "cosmic"], "aligners": ["otdd-exact"]},
    "pdebench": {"tasks": ["pde-diffsorp", "pde-darcy"], "aligners": ["l2"]},
    "openml": {"tasks": ["openml-11", "openml-12"], "aligners": ["mmd"]},
    "drug": {"tasks": ["drug-gdsc"], "aligners": ["otdd-gaussian"]},
    "ablation": {"tasks": ["satellite"], "aligners": ["none"], "backbones": ["bert-base-uncased"]},
}


def snakemake(workdir: Path, configfile: Path, timeout: int = 900) -> None:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(configfile), "--cores", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        logs = "\n".join(f"== {p}\n{p.read_text()[-1500:]}" for p in (workdir / "logs").rglob("*.log")
                         if "rror" in p.read_text())
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-3000:]}\n{logs[-6000:]}")


def rehearsal_config(tmp: Path, subset: dict | None = None) -> Path:
    """config/rehearsal.yaml with its folders under ``tmp`` (and, given ``subset``, only those rows)."""
    cfg = yaml.safe_load(REHEARSAL.read_text())
    cfg.update(benchmarks=[str(REPO / "benchmarks")], cache_dir=str(tmp / "cache"), data_dir=str(tmp / "cache/data"),
               published_csv=str(REPO / cfg["published_csv"]))
    for name, table in (subset or {}).items():
        cfg["tables"][name].update(table)
        summary = cfg["tables"][name].get("summary")
        for group in (summary or {}).get("groups", {}).values():
            group["tasks"] = [t for t in group["tasks"] if t in table["tasks"]]
    path = tmp / "rehearsal.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_rehearsal_config_is_the_paper_grid_with_one_seed_and_folders_of_its_own():
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    reh = yaml.safe_load(REHEARSAL.read_text())
    assert reh["rehearsal"] is True and reh["targets"] == paper["targets"]
    for name, table in paper["tables"].items():
        assert {**table, "seeds": [0]} == reh["tables"][name], name
    for key in ("cache_dir", "data_dir", "results_dir", "reports_dir", "logs_dir"):
        assert reh[key] and reh[key] != paper.get(key, "logs" if key == "logs_dir" else None), key
    assert reh["published_csv"] == paper["published_csv"]
    assert set(reh["overrides"]) <= {"align", "refine"}  # settings shrunk by the one overrides entry
    assert set(reh.get("method_settings", {})) <= {"recraft"}  # and RECRAFT's epochs by method_settings


def _facts(names):
    tasks = {n: load_task(p) for n, p in find_task_files([REPO / "benchmarks"]).items() if n in names}
    return {
        "loader": {t.spec["data"]["loader"] for t in tasks.values()},
        "prepare": {t.spec["prepare"]["step"] for t in tasks.values() if t.spec.get("prepare")},
        "kind": {(t.spec["output"]["kind"], t.spec["input"]["modality"]) for t in tasks.values()},
    }


def test_subset_covers_every_loader_prepare_step_output_kind_table_and_aligner():
    paper = yaml.safe_load(REHEARSAL.read_text())["tables"]
    every = _facts({t for table in paper.values() for t in table["tasks"]})
    ours = _facts({t for table in SUBSET.values() for t in table["tasks"]})
    assert ours["loader"] == every["loader"] and ours["prepare"] == every["prepare"]
    assert {k for k, _ in ours["kind"]} == {k for k, _ in every["kind"]}
    assert {m for k, m in ours["kind"] if k == "dense"} == {"1d", "2d"}  # both dense heads
    assert set(SUBSET) == set(paper)
    assert {a for t in SUBSET.values() for a in t["aligners"]} == set(paper["nb360"]["aligners"])


def _check_outputs(tmp: Path, tables: dict) -> None:
    for name, table in tables.items():
        csv = pd.read_csv(tmp / "results" / "rehearsal" / f"{name}.csv")
        assert csv.columns[0] == "rehearsal" and csv["rehearsal"].all(), name
        ours = csv[csv["row_kind"] == "run"]
        assert set(table["tasks"]) == set(ours["task"]), name
        for ext in ("md", "tex"):
            assert "REHEARSAL" in (tmp / "reports" / "rehearsal" / f"{name}.{ext}").read_text().splitlines()[0] \
                or "REHEARSAL" in (tmp / "reports" / "rehearsal" / f"{name}.{ext}").read_text(), (name, ext)
        assert (tmp / "reports" / "rehearsal" / f"{name}.png").stat().st_size > 0
    assert not (tmp / "results" / "nb360.csv").exists()  # nothing outside the rehearsal's folders
    summary = pd.read_csv(tmp / "results" / "rehearsal" / "openml_summary.csv")
    assert summary["rehearsal"].all()
    logs = " ".join(p.read_text() for p in (tmp / "logs" / "rehearsal" / "fetch").glob("*.log"))
    assert "checksum and size checks skipped" in logs  # fetch says so


def test_rehearsal_subset_builds_every_paper_table(tmp_path):
    """The CI subset: every table built through the real rules on stand-ins (about 4 minutes on 2 cores)."""
    start = time.monotonic()
    snakemake(tmp_path, rehearsal_config(tmp_path, SUBSET))
    elapsed = time.monotonic() - start
    _check_outputs(tmp_path, SUBSET)
    runs = list((tmp_path / "results" / "rehearsal" / "runs").rglob("seed0.json"))
    assert runs and all(json.loads(p.read_text())["scores"] for p in runs)
    print(f"rehearsal subset: {elapsed:.0f} s")


@pytest.mark.slow
def test_full_rehearsal_every_paper_row_and_aligner(tmp_path):
    """Every paper row x every aligner on stand-ins (README: Rehearsal)."""
    snakemake(tmp_path, rehearsal_config(tmp_path), timeout=7200)
    _check_outputs(tmp_path, yaml.safe_load(REHEARSAL.read_text())["tables"])
