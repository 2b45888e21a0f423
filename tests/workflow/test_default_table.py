"""The full default table (about 20 minutes on 2 cores): marked slow, run with `make test-all`."""
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow.test_e2e import REPO, snakemake

# what a trivial predictor scores on each row (majority class, or predicting zeros for the PDE)
TRIVIAL = {"iris": 0.5, "wine": 0.5, "wdbc": 0.5, "ecg5000": 0.8, "digits": 80.0, "advection1d": 1.0}


@pytest.mark.slow
def test_default_table_is_complete_and_beats_trivial_predictors(tmp_path: Path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update(benchmarks=[str(REPO / b) for b in cfg["benchmarks"]], cache_dir=str(tmp_path / "cache"))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, config)
    table = pd.read_csv(tmp_path / "results" / "default.csv")
    grid = cfg["tables"]["default"]
    assert set(table.task) == set(grid["tasks"])
    assert (table.n_seeds == len(grid["seeds"])).all()
    for row in table.itertuples():
        if row.method in grid.get("controls", []):
            continue  # a control (frozen or random body) may do no better than chance: that is what it measures
        assert row.mean < TRIVIAL[row.task], f"{row.task} {row.method}: {row.mean} not better than trivial"
