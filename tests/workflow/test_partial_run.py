"""A table whose cells partly fail still builds (--keep-going): each missing cell is listed with its log, and
rerunning the same command runs only the missing cells (README: Partial runs)."""
from pathlib import Path

import pandas as pd
import yaml

from tests.workflow.test_e2e import REPO, planned_jobs, snakemake


def row(folder: Path, name: str, **refine) -> None:
    spec = yaml.safe_load((REPO / "benchmarks/offline/iris.yaml").read_text())
    spec.update(name=name, title=name, suite="mine")
    spec["refine"] = {**spec["refine"], "epochs": 1, **refine}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec))


def test_a_failed_cell_is_listed_and_only_it_reruns(tmp_path):
    rows = tmp_path / "rows"
    rows.mkdir()
    row(rows, "good-iris")
    row(rows, "bad-iris", lr=float("nan"))  # its refine job stops (torch refuses the lr); its baseline is fine
    cfg = {"benchmarks": [str(REPO / "benchmarks"), str(rows)], "cache_dir": str(tmp_path / "cache"),
           "results_dir": "results", "reports_dir": "reports", "targets": ["partial"], "warm_worker": False,
           "tables": {"partial": {"tasks": ["good-iris", "bad-iris"], "backbones": ["minilm-l6"],
                                  "aligners": ["none"], "baselines": ["logistic-regression"], "seeds": [0]}}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))

    proc = snakemake(tmp_path, config, "--keep-going", check=False)
    assert proc.returncode != 0
    assert "table partial built from 3 of 4 cells; 1 missing" in proc.stderr
    table = pd.read_csv(tmp_path / "results/partial.csv")
    failed = table[table.row_kind == "failed"]
    assert len(failed) == 1 and failed.iloc[0]["task"] == "bad-iris" and failed.iloc[0]["method"] == "none"
    assert "refine failed; log: logs/refine/bad-iris/minilm-l6/none/clean/seed0.log" in failed.iloc[0]["failure"]
    assert set(table.loc[table.row_kind == "run", "task"]) == {"good-iris", "bad-iris"}  # the 3 that ran
    md = (tmp_path / "reports/partial.md").read_text()
    assert "partial: 1 of 4 cells missing" in md and "## Missing cells (1 of 4)" in md
    assert "Invalid learning rate: nan" in md  # the log's error line
    assert "Partial table: 1 of 4 cells" in (tmp_path / "reports/partial.tex").read_text()
    resources = pd.read_csv(tmp_path / "results/partial_resources.csv")
    bad = resources[(resources.stage == "refine") & (resources.task == "bad-iris")].iloc[0]
    assert bad["status"] == "failed" and bad["job_max_rss_mb"] > 100  # the crash's own figures are kept
    assert (resources.loc[resources.status == "done", "used_mem_mb"] > 0).all()

    row(rows, "bad-iris")  # fixed: the same command now runs only the missing cell, then the table
    assert planned_jobs(snakemake(tmp_path, config, "-n")) == {"refine": 1, "resources_partial": 1,
                                                                "table_partial": 1, "all": 1}
    snakemake(tmp_path, config)
    table = pd.read_csv(tmp_path / "results/partial.csv")
    assert "failed" not in set(table.row_kind) and "Missing cells" not in (tmp_path / "reports/partial.md").read_text()
