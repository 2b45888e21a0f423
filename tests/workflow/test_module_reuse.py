"""The workflow reused as a module: a user's own Snakefile imports its rules (`module orca: snakefile: ...`,
`use rule * from orca`) with its own config and task folder, and real Snakemake builds a one-row table."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow.test_e2e import REPO, planned_jobs

USER_SNAKEFILE = """\
configfile: "config/config.yaml"


module orca:
    snakefile:
        {snakefile!r}
    config:
        config


use rule * from orca as orca_*


rule all:
    default_target: True
    input:
        "mine_head.csv",


rule head:
    input:
        rules.orca_table_mine.output.csv,
    output:
        "mine_head.csv",
    shell:
        "head -n 2 {{input}} > {{output}}"
"""


def run(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Snakemake in the user's folder, as the user runs it: no -s, no -d (their Snakefile, their working dir)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "XDG_CACHE_HOME": str(workdir / ".xdg")}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-c1", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def user_workflow(folder: Path) -> Path:
    """A workflow of the user's own: Snakefile importing this one, config/config.yaml, a task folder my-tasks/
    with one offline row (a copy of iris under a new name), tiny settings."""
    (folder / "config").mkdir(parents=True)
    (folder / "my-tasks").mkdir()
    task = yaml.safe_load((REPO / "benchmarks" / "offline" / "iris.yaml").read_text())
    task.update(name="my-iris", title="my iris row", suite="mine")
    (folder / "my-tasks" / "my-iris.yaml").write_text(yaml.safe_dump(task))
    config = {
        "benchmarks": ["benchmarks", "my-tasks"],  # the project's own task files (beside its Snakefile) and mine
        "cache_dir": "cache", "results_dir": "results", "reports_dir": "reports", "logs_dir": "logs",
        "warm_worker": False, "threads_per_job": 1, "overrides": {"refine": {"epochs": 1}},
        "targets": ["mine"],
        "tables": {"mine": {"title": "My table", "tasks": ["my-iris"], "backbones": ["minilm-l6"],
                            "aligners": ["none"], "seeds": [0]}},
    }
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "Snakefile").write_text(USER_SNAKEFILE.format(snakefile=str(REPO / "Snakefile")))
    return folder


def test_a_user_workflow_builds_a_table_with_the_imported_rules(tmp_path):
    user = user_workflow(tmp_path / "user")
    proc = run(user)
    out = proc.stdout + proc.stderr
    assert "orca_refine" in out and "orca_table_mine" in out  # the imported rules, under the user's prefix

    table = pd.read_csv(user / "results" / "mine.csv")
    assert len(table) == 1
    row = table.iloc[0]
    assert (row.table, row.task, row.backbone, row.method, row.protocol) == ("mine", "my-iris", "minilm-l6", "none",
                                                                            "clean")
    assert row.n_seeds == 1 and 0 <= row["mean"] <= 1 and row.row_kind == "run"
    record = json.loads((user / "results/runs/my-iris/minilm-l6/none/clean/seed0.json").read_text())
    assert record["scores"]["test_at_best_val"] == pytest.approx(row["mean"])
    assert len(record["history"]) == 1  # the user's override: one refine epoch
    assert (user / "mine_head.csv").read_text().splitlines()[1].startswith("mine,my-iris,")  # the user's own rule
    assert (user / "reports" / "mine.md").stat().st_size > 0 and (user / "logs" / "refine").is_dir()
    assert not (REPO / "results" / "mine.csv").exists()  # everything lands in the user's folder

    assert planned_jobs(run(user, "-n")) == {}  # nothing changed: nothing to run
    run(user, "--report", "report.html")  # the HTML report with the module's captions
    assert (user / "report.html").stat().st_size > 0


def test_without_a_config_the_module_uses_its_own_defaults(tmp_path):
    """No `config:` in the module statement: the module reads its own config/config.yaml (not one in the user's
    folder) and finds its own task files, so a bare import plans the default table."""
    (tmp_path / "Snakefile").write_text(f"module orca:\n    snakefile:\n        {str(REPO / 'Snakefile')!r}\n\n\n"
                                        "use rule * from orca\n")
    jobs = planned_jobs(run(tmp_path, "-n"))
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["tables"]["default"]
    assert jobs["table_default"] == 1 and jobs["fetch"] == len(default["tasks"])
