"""The whole paper grid sized at real size (slow: about an hour on 2 cores; docs/sizing.md). CI runs the subset
in test_real_size.py."""
from __future__ import annotations

import json

import pytest

from orca.plan.config import load_config, planning_config
from orca.plan.grid import Grid
from orca.sizing.shapes import sizing_units

from .conftest import orca


@pytest.mark.slow
def test_every_unit_of_the_paper_grid_is_measured(tmp_path):
    out = tmp_path / "sizing"
    done = orca("size", "--configfile", "config/paper.yaml", "--configfile", "config/sizing.yaml",
                "--sizing-dir", str(out), timeout=3 * 3600)
    assert done.returncode == 0, done.stderr[-3000:]
    grid = Grid(planning_config(load_config(["config/paper.yaml", "config/sizing.yaml"])))
    units = sizing_units(grid, None, grid.config.get("sizing"))
    for unit in units:
        rec = json.loads((out / f"{unit.name}--cpu.json").read_text())
        assert rec["shape_hash"] == unit.shape_hash and rec["refine"]["full"]["flops_per_step"] > 0
    cost = orca("cost", "--configfile", "config/paper.yaml", "--configfile", "config/sizing.yaml",
                "--sizing-dir", str(out), "--out-dir", str(tmp_path / "cost"))
    assert cost.returncode == 0 and "no sizing record" not in (tmp_path / "cost" / "cost_jobs.csv").read_text()
