"""orca.plan.failures: each missing cell of a table names the first job of its chain that did not finish."""
from pathlib import Path

import yaml

from orca.plan.failures import last_error_line, missing_cells
from orca.plan.grid import Grid

REPO = Path(__file__).resolve().parents[2]


def tiny_grid(tmp: Path) -> Grid:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config.update(benchmarks=[str(REPO / "benchmarks")], cache_dir=str(tmp / "cache"), targets=["t"],
                  tables={"t": {"tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["none", "l2"],
                                "baselines": ["xgboost"], "seeds": [0]}})
    return Grid(config)


def touch(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_table_jobs_lists_each_measured_job_once(tmp_path):
    jobs = tiny_grid(tmp_path).table_jobs("t")
    assert [j["stage"] for j in jobs] == ["refine", "sources", "align", "refine", "baseline"]
    assert jobs[2]["path"] == "align/iris/minilm-l6/l2/clean/seed0"
    assert jobs[0]["requested"] == {"mem_mb": 3000, "runtime_min": 20, "gpus": 0}  # iris.yaml's resources
    assert jobs[-1]["requested"]["mem_mb"] == 2000  # baselines: grid.FIXED_RESOURCES


def test_each_missing_cell_names_the_job_that_failed(tmp_path):
    g, res, logs, cache = tiny_grid(tmp_path), tmp_path / "results", tmp_path / "logs", tmp_path / "cache"
    touch(cache / "data-ready/iris.ok")
    touch(cache / "sources/minilm-l6.npz")
    touch(res / "baselines/iris/xgboost/seed0.json")  # the baseline cell ran
    touch(logs / "align/iris/minilm-l6/l2/clean/seed0.log", "epoch 1\nValueError: bad thing\nexiting\n")
    touch(logs / "refine/iris/minilm-l6/none/clean/seed0.log", "orca refine: error: NaN loss at epoch 1\n")
    cells = missing_cells(g, "t", str(res), str(logs))
    assert cells["planned"] == 3
    by_method = {c["identity"]["method"]: c for c in cells["missing"]}
    assert set(by_method) == {"none", "l2"}
    l2, none = by_method["l2"], by_method["none"]
    assert l2["failed_stage"] == "align" and l2["status"] == "failed" and l2["reason"] == "ValueError: bad thing"
    assert none["failed_stage"] == "refine" and "NaN loss" in none["reason"]
    assert none["log"].endswith("refine/iris/minilm-l6/none/clean/seed0.log")


def test_a_cell_whose_data_never_arrived_did_not_run(tmp_path):
    g = tiny_grid(tmp_path)
    cells = missing_cells(g, "t", str(tmp_path / "results"), str(tmp_path / "logs"))
    assert {c["failed_stage"] for c in cells["missing"]} == {"fetch"}
    assert {c["status"] for c in cells["missing"]} == {"not run"} and len(cells["missing"]) == 3


def test_last_error_line(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("a\nb\n")
    assert last_error_line(log) == "b"
    assert last_error_line(tmp_path / "absent.log") == ""
