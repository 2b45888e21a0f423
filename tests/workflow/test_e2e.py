"""The real workflow on a tiny grid: real MiniLM body, real data, every stage, then the caching rules."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def snakemake(workdir: Path, configfile: Path, *args: str, check=True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(configfile), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts per rule from a dry run's 'Job stats' table ({} when nothing is to be done)."""
    text = proc.stdout + proc.stderr
    counts = {}
    for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", text.split("Job stats:")[-1], flags=re.M):
        if rule != "total":
            counts[rule] = int(n)
    return counts if "Job stats:" in text else {}


def new_row(tmp: Path) -> Path:
    """A benchmark row added with one file in a folder of its own: a copy of iris under a new name."""
    folder = tmp / "my-benchmarks"
    folder.mkdir(exist_ok=True)
    spec = yaml.safe_load((REPO / "benchmarks" / "offline" / "iris.yaml").read_text())
    spec.update(name="my-iris", title="my iris row", suite="mine")
    (folder / "my-iris.yaml").write_text(yaml.safe_dump(spec))
    return folder


def tiny_config(tmp: Path, **extra) -> Path:
    cfg = {
        "benchmarks": [str(REPO / "benchmarks"), str(new_row(tmp))],
        "cache_dir": str(tmp / "cache"), "results_dir": "results", "reports_dir": "reports",
        "threads_per_job": 1, "source_max_samples": 300,
        "overrides": {"align": {"epochs": 2, "maxsamples": 16}, "refine": {"epochs": 1}},
        "targets": ["smoke"],
        "tables": {"smoke": {"tasks": ["my-iris", "digits"], "backbones": ["minilm-l6"],
                             "aligners": ["none", "otdd-gaussian"], "baselines": ["logistic-regression"],
                             "controls": ["frozen-body"], "seeds": [0]}},
    }
    cfg.update(extra)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    config = tiny_config(tmp)
    snakemake(tmp, config)
    return tmp, config


def test_tables_and_plots_are_written(finished_run):
    tmp, _ = finished_run
    table = pd.read_csv(tmp / "results" / "smoke.csv")
    ours = table[table.row_kind == "run"]
    assert set(ours.task) == {"my-iris", "digits"}  # the row added with one file is in the table
    assert set(ours.method) == {"none", "otdd-gaussian", "frozen-body", "logistic-regression"}
    assert (ours.n_seeds == 1).all() and ours["mean"].notna().all()
    for ext in ("tex", "md", "png", "pdf"):
        assert (tmp / "reports" / f"smoke.{ext}").stat().st_size > 0
    assert r"\toprule" in (tmp / "reports" / "smoke.tex").read_text()
    run = json.loads((tmp / "results/runs/my-iris/minilm-l6/otdd-gaussian/clean/seed0.json").read_text())
    assert run["embedder"].endswith("otdd-gaussian/clean/seed0/embedder.pt")
    assert run["scores"]["test_at_best_val"] == pytest.approx(
        ours[(ours.task == "my-iris") & (ours.method == "otdd-gaussian")]["mean"].item())
    assert list((tmp / "results/benchmarks/refine").rglob("*.tsv")), "per-job benchmark timing missing"
    control = json.loads((tmp / "results/runs/digits/minilm-l6/frozen-body/clean/seed0.json").read_text())
    assert control["body"] == "frozen" and control["embedder"] is None  # a control is never aligned
    assert not (tmp / "cache/align/digits/minilm-l6/frozen-body").exists()


def test_nothing_changed_means_no_jobs(finished_run):
    tmp, config = finished_run
    assert planned_jobs(snakemake(tmp, config, "-n")) == {}


def test_refine_setting_reruns_only_refine_and_tables(finished_run):
    tmp, _ = finished_run
    changed = tiny_config(tmp, overrides={"align": {"epochs": 2, "maxsamples": 16}, "refine": {"epochs": 2}})
    jobs = planned_jobs(snakemake(tmp, changed, "-n"))
    assert jobs == {"refine": 6, "table_smoke": 1, "resources_smoke": 1, "all": 1}  # 2 tasks x (none, otdd-gaussian, frozen-body)


def test_align_setting_reruns_align_and_what_follows(finished_run):
    tmp, _ = finished_run
    changed = tiny_config(tmp, overrides={"align": {"epochs": 3, "maxsamples": 16}, "refine": {"epochs": 1}})
    jobs = planned_jobs(snakemake(tmp, changed, "-n"))
    # only the aligned cells: 'none' and the controls need no embedder, baselines depend on neither
    assert jobs == {"align": 2, "refine": 2, "table_smoke": 1, "resources_smoke": 1, "all": 1}


def test_unknown_aligner_fails_before_any_job(tmp_path):
    config = tiny_config(tmp_path)
    cfg = yaml.safe_load(config.read_text())
    cfg["tables"]["smoke"]["aligners"] = ["none", "otdd-fast-please"]
    config.write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "tables.smoke.aligners: unknown aligner 'otdd-fast-please'" in out and "otdd-exact" in out


def test_a_table_runs_both_protocols_side_by_side(tmp_path):
    config = tiny_config(tmp_path, protocols=["original", "clean"], targets=["both"],
                         tables={"both": {"tasks": ["my-iris"], "backbones": ["minilm-l6"], "aligners": ["none"],
                                          "seeds": [0]}})
    snakemake(tmp_path, config)
    runs = {p: json.loads((tmp_path / f"results/runs/my-iris/minilm-l6/none/{p}/seed0.json").read_text())
            for p in ("original", "clean")}
    assert runs["original"]["num_val"] == 0 and runs["clean"]["num_val"] > 0
    table = pd.read_csv(tmp_path / "results" / "both.csv").set_index("protocol")
    assert table.loc["original", "score"] == "test_best_epoch_original"
    assert table.loc["original", "mean"] == pytest.approx(runs["original"]["scores"]["test_best_epoch_original"])
    assert table.loc["clean", "mean"] == pytest.approx(runs["clean"]["scores"]["test_at_best_val"])
    assert "Protocols side by side" in (tmp_path / "reports" / "both.md").read_text()


def test_the_resource_table_measures_every_job(finished_run):
    """results/smoke_resources.csv: one row per sources/align/refine/baseline job, each measured; under the warm
    worker the job's own peak (torch imported: hundreds of MB) is above the thin client's that Snakemake sees."""
    tmp, _ = finished_run
    res = pd.read_csv(tmp / "results" / "smoke_resources.csv")
    assert res.groupby("stage").size().to_dict() == {"align": 2, "baseline": 2, "refine": 6, "sources": 1}
    assert (res["status"] == "done").all() and res["wall_s"].gt(0).all() and res["used_mem_mb"].gt(0).all()
    refine = res[res.stage == "refine"]
    assert refine["measured"].str.startswith("warm worker").all()
    assert (refine["job_max_rss_mb"] > 200).all() and (refine["used_mem_mb"] >= refine["snakemake_max_rss_mb"]).all()
    assert (refine["requested_mem_mb"] > 0).all()
    assert "# Resource use: smoke" in (tmp / "reports" / "smoke_resources.md").read_text()
