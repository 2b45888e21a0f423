"""The prepare rule: planned before fetch exactly for task files with a `prepare:` step, run for real on a tiny
DrugCell-layout fixture, rerun when its settings change and not otherwise."""
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.data.test_drug_response import write_drugcell
from tests.workflow.test_e2e import REPO, planned_jobs


def run_snakemake(workdir: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(configfile), "--cores", "1", *args]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def write_config(tmp: Path, tasks: list[str], extra_benchmarks: list[str] = ()) -> Path:
    cfg = {"benchmarks": [str(REPO / "benchmarks"), *extra_benchmarks], "cache_dir": str(tmp / "cache"),
           "data_dir": str(tmp / "data"), "results_dir": "results", "reports_dir": "reports",
           "targets": ["t"], "tables": {"t": {"tasks": tasks, "backbones": ["minilm-l6"], "aligners": ["none"],
                                              "seeds": [0]}}}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def my_drug_row(tmp: Path, **prepare_args) -> Path:
    """A copy of the GDSC row under a name of its own (suite 'mine')."""
    folder = tmp / "my-benchmarks"
    folder.mkdir(exist_ok=True)
    spec = yaml.safe_load((REPO / "benchmarks/drug/drug-gdsc.yaml").read_text())
    spec.update(name="my-drug", title="my drug row", suite="mine")
    spec["prepare"]["args"].update(prepare_args)
    (folder / "my-drug.yaml").write_text(yaml.safe_dump(spec))
    return folder


def test_prepare_is_planned_only_for_rows_with_a_prepare_step(tmp_path):
    config = write_config(tmp_path, ["ecg", "iris"])
    jobs = planned_jobs(run_snakemake(tmp_path, config, "-n"))
    assert jobs["prepare"] == 1 and jobs["fetch"] == 2


def test_prepare_rule_runs_then_caches_then_reruns_on_new_settings(tmp_path):
    write_drugcell(tmp_path / "data" / "drug" / "raw")
    config = write_config(tmp_path, ["my-drug"], [str(my_drug_row(tmp_path))])
    ready = tmp_path / "cache" / "data-ready" / "my-drug.ok"
    run_snakemake(tmp_path, config, str(ready))
    stamp = json.loads((tmp_path / "cache" / "prepared" / "my-drug.json").read_text())
    assert stamp["step"] == "drugcell" and ready.is_file()
    assert (tmp_path / "data" / "drug" / "my-drug.prepare.json").is_file()
    assert (tmp_path / "data" / "drug" / "drug_sep" / "gdsc_train_feat.npy").is_file()
    assert planned_jobs(run_snakemake(tmp_path, config, "-n", str(ready))) == {}
    my_drug_row(tmp_path, split_seed=3)  # a prepare setting changes: prepare and fetch run again
    assert planned_jobs(run_snakemake(tmp_path, config, "-n", str(ready))) == {"prepare": 1, "fetch": 1}
