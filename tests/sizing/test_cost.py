"""orca.sizing.cost: a table's cost from sizing records, each figure checked by hand on a made-up record."""
from __future__ import annotations

import csv
import json
import math

import pytest

from orca.plan.config import load_config, planning_config
from orca.plan.grid import Grid
from orca.sizing.cost import DEVICE_CLASSES, UTILISATION, write_cost
from orca.sizing.shapes import sizing_units

from .conftest import orca

TABLES = {"t": {"title": "t", "tasks": ["iris"], "backbones": ["minilm-l6"], "aligners": ["none", "l2"],
                "protocols": ["original"], "seeds": [0, 1]}}


def _grid() -> Grid:
    config = load_config()
    config.update(tables=TABLES, targets=["t"])
    return Grid(planning_config(config))


def _record(unit, device: str = "cpu") -> dict:
    window = {"fwd_bwd_s": 0.2, "optimizer_s": 0.05, "peak_rss_mb": 2000.0, "peak_gpu_mb": 1500.0 if device != "cpu"
              else None, "scaled_from": None, "step_s": 0.25}
    refine = {"parameters": 1000, "trainable_parameters": 1000, "batch_size": 32, "accum": 1, "eval_batch_size": 256,
              "optimizer": "adamw", "flops_per_step": 3.2e12, "eval_s_per_sample": 0.001,
              "checkpoint": {"mb": 120.0, "write_s": 0.5},
              "precisions": {"fp32": {"measured": [], "at_batch": window}}}
    return {"kind": "sizing", "task": "iris", "backbone": "minilm-l6", "refine": {"full": refine},
            "align": [{"method": "l2", "solver": "converged", "epoch_s": 0.3, "prepare_s": 1.0, "peak_rss_mb": 900.0,
                       "class_step_s": 0.1}],
            "sources": {"s_per_sample": 0.002, "rows": 32}, "rss_before_model_mb": 500.0,
            "shape_hash": unit.shape_hash, "provenance": {"device": device, "device_name": device}}


def test_refine_cost_is_steps_times_the_measured_rates(tmp_path):
    grid = _grid()
    (unit,) = sizing_units(grid)
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / f"{unit.name}--cpu.json").write_text(json.dumps(_record(unit)))
    write_cost(grid, None, tmp_path / "rec", tmp_path / "out")
    rows = list(csv.DictReader(open(tmp_path / "out" / "cost_jobs.csv")))
    task = grid.task("iris")
    refine = [r for r in rows if r["stage"] == "refine"]
    assert len(refine) == 4 and {r["sized"] for r in refine} == {"True"}  # 2 methods x 2 seeds
    micro = math.ceil(135 / 32)  # the whole training split under the original protocol
    epochs = task.refine.epochs
    r = refine[0]
    assert int(r["steps"]) == epochs * micro
    flops = epochs * micro * 3.2e12 + epochs * 15 * 3.2e12 / 32 / 3  # + the test set scored every epoch
    assert float(r["flops"]) == pytest.approx(flops)
    assert float(r["cpu_s"]) == pytest.approx(epochs * (micro * 0.2 + micro * 0.05) + epochs * 15 * 0.001)
    a100 = DEVICE_CLASSES["A100-40GB"]["fp32"] * 1e12 * UTILISATION
    assert float(r["gpu_h_A100-40GB"]) == pytest.approx(flops / a100 / 3600)
    assert r["fits_A100-40GB"] == "True"
    aligns = [r for r in rows if r["stage"] == "align"]
    assert len(aligns) == 2 and float(aligns[0]["cpu_s"]) == pytest.approx(task.align.epochs * 0.3 + 1.0)
    md = (tmp_path / "out" / "cost.md").read_text()
    assert "utilisation 35%" in md and "A100-40GB: peak 19.5 TFLOP/s fp32" in md
    assert (tmp_path / "out" / "cost.png").stat().st_size > 1000


def test_a_record_measured_on_the_class_gives_its_measured_time(tmp_path):
    grid = _grid()
    (unit,) = sizing_units(grid)
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / f"{unit.name}--cuda.json").write_text(json.dumps(_record(unit, "NVIDIA H100 80GB HBM3")))
    write_cost(grid, None, tmp_path / "rec", tmp_path / "out")
    rows = list(csv.DictReader(open(tmp_path / "out" / "cost_jobs.csv")))
    r = next(r for r in rows if r["stage"] == "refine")
    assert float(r["gpu_h_H100-80GB"]) == pytest.approx(float(r["cpu_s"]) / 3600)  # measured on an H100
    assert float(r["gpu_h_A100-40GB"]) != pytest.approx(float(r["cpu_s"]) / 3600)  # modelled from FLOPs


def test_jobs_without_a_record_are_listed_as_unsized(tmp_path):
    write_cost(_grid(), None, tmp_path / "none", tmp_path / "out")
    rows = list(csv.DictReader(open(tmp_path / "out" / "cost_jobs.csv")))
    assert rows and all(r["sized"] == "False" for r in rows)
    assert "no sizing record: run orca size" in {r["note"] for r in rows}
    assert "| t " in (tmp_path / "out" / "cost.md").read_text()


def test_an_unknown_device_class_is_refused():
    done = orca("cost", "--device-class", "TPU-v9")
    assert done.returncode == 2 and "unknown device class TPU-v9; allowed: A100-40GB, H100-80GB, H200-141GB" in done.stderr


def test_an_unmeasured_scheme_or_a_replaced_body_is_priced_as_full_fine_tuning_and_says_so(tmp_path):
    config = load_config()
    config.update(tables={"t": {**TABLES["t"], "controls": ["lora", "no-body"]}}, targets=["t"])
    grid = Grid(planning_config(config))
    (unit,) = sizing_units(grid)
    assert unit.job.settings["modes"] == ["full", "lora"]
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / f"{unit.name}--cpu.json").write_text(json.dumps(_record(unit)))
    write_cost(grid, None, tmp_path / "rec", tmp_path / "out")
    rows = list(csv.DictReader(open(tmp_path / "out" / "cost_jobs.csv")))
    by_method = {r["job"].split("/")[-3]: r for r in rows if r["stage"] == "refine"}
    assert "lora not sized" in by_method["lora"]["note"] and "a replaced body" in by_method["no-body"]["note"]
    assert by_method["lora"]["flops"] == by_method["none"]["flops"] and not by_method["none"]["note"]


def test_an_align_procedure_of_its_own_is_listed_unpriced_and_not_sized(tmp_path):
    config = load_config()
    config.update(tables={"t": {**TABLES["t"], "aligners": ["none", "l2", "recraft"]}}, targets=["t"])
    grid = Grid(planning_config(config))
    (unit,) = sizing_units(grid)
    assert [m for m, _ in unit.job.settings["aligners"]] == ["l2"]  # recraft's procedure is not measured
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / f"{unit.name}--cpu.json").write_text(json.dumps(_record(unit)))
    write_cost(grid, None, tmp_path / "rec", tmp_path / "out")
    rows = list(csv.DictReader(open(tmp_path / "out" / "cost_jobs.csv")))
    align = {r["job"].split("/")[-3]: r for r in rows if r["stage"] == "align"}
    assert align["recraft"]["sized"] == "False" and "not priced" in align["recraft"]["note"]
    assert align["l2"]["sized"] == "True"
    assert "procedure of their own (e.g. recraft)" in (tmp_path / "out" / "cost.md").read_text()
