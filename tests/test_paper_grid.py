"""The paper's task files and config/paper.yaml: every row validates, joins the published table, and
the full grid plans without the network."""
import csv
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from orca.evaluation.metrics import METRICS
from orca.spec.tasks import find_task_files, load_task

REPO = Path(__file__).resolve().parents[1]
PAPER_SUITES = {"nb360": 10, "pdebench": 9, "openml": 42, "drug": 2}
PUBLISHED = REPO / "benchmarks" / "published" / "published.csv"  # project data (benchmarks/published/README.md)
CONFIGS = REPO / "benchmarks" / "published" / "orca_configs.csv"


@pytest.fixture(scope="module")
def tasks():
    return {name: load_task(path) for name, path in find_task_files([REPO / "benchmarks"]).items()}


def test_every_task_file_validates_and_suites_are_complete(tasks):
    counts = Counter(t.suite for t in tasks.values())
    for suite, n in PAPER_SUITES.items():
        assert counts[suite] == n, f"{suite}: {counts[suite]} task files, expected {n}"
    for t in tasks.values():
        assert t.path.parent.name == t.suite, f"{t.path}: suite {t.suite!r} differs from its folder"
    assert {t.metric for t in tasks.values()} <= set(METRICS)


def test_paper_rows_ask_for_a_gpu_and_carry_download_facts(tasks):
    for t in tasks.values():
        if t.suite not in PAPER_SUITES:
            continue
        assert t.resources.gpus == 1, t.path
        for entry in t.data.args.get("download", []):
            assert entry.get("urls") or entry.get("note"), f"{t.path}: {entry['name']} has no URL and no note"
            if entry.get("md5"):
                assert re.fullmatch(r"[0-9a-f]{32}", entry["md5"]), t.path
        # files listed in the manifest are what the fetcher downloads


def test_openml_rows_match_the_original_configs(tasks):
    rows = [r for r in csv.DictReader(CONFIGS.open()) if r["openml_dataset_id"]]
    ids = {int(r["openml_dataset_id"]) for r in rows}
    ours = {t.data.args["dataset_id"] for t in tasks.values() if t.suite == "openml"}
    assert ours == ids and sum(r["in_tabpfn30"] == "yes" for r in rows) == 30
    for r in rows:
        t = tasks[f"openml-{r['openml_dataset_id']}"]
        assert t.refine.epochs == int(r["epochs"]) and t.refine.lr == float(r["lr"])
        assert t.refine.batch_size == int(r["batch_size"]) and t.align.epochs == int(r["embedder_epochs"])
        assert "offline_copy" not in t.data.args


def test_paper_rows_train_with_the_original_configs_settings(tasks):
    """Schedules, betas, accumulation, clipping and align settings are the ORCA config's (issue 11, 1-3, 7-8)."""
    rows = {r["config"]: r for r in csv.DictReader(CONFIGS.open())}
    optimizers = {"SGD": "sgd", "Adam": "adam", "AdamW": "adamw"}
    checked = 0
    for t in tasks.values():
        if t.suite not in PAPER_SUITES:
            continue
        r = rows[re.search(r"ORCA config (\S+\.yaml)", t.path.read_text()).group(1)]
        refine, align = t.spec["refine"], t.spec["align"]  # the resolved task-file values, as written
        assert r["scheduler"] == "WarmupLR" and refine["scheduler"] == {
            "kind": "warmup_linear", "warmup_epochs": int(r["warmup_epochs"]),
            "decay_epochs": int(r["decay_epochs"])}, t.path
        assert refine["betas"] == yaml.safe_load(r["betas"]) == [0.9, 0.98], t.path
        assert refine["optimizer"] == optimizers[r["optimizer"]] and refine["accum"] == int(r["accum"]), t.path
        assert refine["weight_decay"] == float(r["weight_decay"]) and refine["clip"] == float(r["clip"]), t.path
        assert r["embedder_scheduler"] == "StepLR sched=[20, 40, 60] base=0.2"
        assert align["scheduler"] == {"kind": "step", "milestones": [20, 40, 60], "base": 0.2}, t.path
        assert align["optimizer"] == refine["optimizer"] and align["betas"] == refine["betas"], t.path
        assert align["weight_decay"] == refine["weight_decay"] and align["momentum"] == refine["momentum"], t.path
        assert align["lr"] == pytest.approx(float(r["embedder_lr"])), t.path
        assert align["batch_size"] == int(r["batch_size"]) and align["maxsamples"] == int(r["maxsamples"]), t.path
        checked += 1
    assert checked == sum(PAPER_SUITES.values())


def test_pde_rows_train_with_the_original_loss(tasks):
    """ORCA's get_config: rmse_loss for Burgers and 1D CFD, nrmse_loss (= relative l2) for the other PDE rows;
    LpLoss(size_average=False) (relative l2 summed over the batch) for NAS-Bench-360 Darcy flow."""
    for t in tasks.values():
        if t.suite == "pdebench":
            expected = "rmse" if t.name in ("pde-burgers", "pde-cfd1d") else "relative_l2"
            assert (t.loss.name, t.loss.options()) == (expected, {}), t.path
    darcy = tasks["darcy-flow"].loss
    assert (darcy.name, darcy.options()) == ("relative_l2", {"reduction": "sum"})


def test_published_keys_join_published_csv(tasks):
    pub = {(r["table"], r["task"]) for r in csv.DictReader(PUBLISHED.open())}
    keyed = 0
    for t in tasks.values():
        for key in t.published:
            assert (key.table, key.task) in pub, f"{t.path}: {key} is not in published.csv"
            keyed += 1
    assert keyed == 19  # 10 NAS-Bench-360 rows + 9 PDEBench rows


def _expected_jobs(config: dict, tasks: dict) -> int:
    trains = {"none": False}
    cells, aligns, baselines, fetches, bodies = set(), set(), set(), set(), set()
    for name in config["targets"]:
        tab = config["tables"][name]
        for task in tab["tasks"]:
            fetches.add(task)
            bbs = tab["backbones"]
            for bb in bbs if isinstance(bbs, list) else bbs[tasks[task].input.modality]:
                bodies.add(bb)
                for al in tab["aligners"]:
                    for pr in tab.get("protocols") or config.get("protocols") or ["clean"]:
                        for s in tab["seeds"]:
                            cells.add((task, bb, al, pr, s))
                            if trains.get(al, True):
                                aligns.add((task, bb, al, pr, s))
            if tasks[task].output.kind in ("classification", "regression"):
                baselines.update((task, m, s) for m in tab.get("baselines", []) for s in tab["seeds"])
    prepares = {t for t in fetches if tasks[t].spec.get("prepare")}  # rows whose raw archives need converting
    return (len(cells) + len(aligns) + len(baselines) + len(fetches) + len(prepares) + len(bodies)
            + 2 * len(config["targets"]) + 1)  # per target table: its table and resources jobs; then `all`


def test_paper_grid_plans_offline(tasks):
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    expected = _expected_jobs(config, tasks)
    env = dict(os.environ)
    dead = "http://127.0.0.1:9"  # any download attempt during planning fails at once
    env.update(http_proxy=dead, https_proxy=dead, HTTP_PROXY=dead, HTTPS_PROXY=dead, no_proxy="", NO_PROXY="")
    snakemake = Path(sys.executable).parent / "snakemake"
    cmd = [str(snakemake) if snakemake.exists() else "snakemake", "-n", "--nolock", "--configfile",
           "config/paper.yaml"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    m = re.search(r"^total\s+(\d+)\s*$", out, re.M)
    assert m, out[-3000:]
    assert int(m.group(1)) == expected


def test_paper_grid_covers_every_paper_row(tasks):
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    used = {t for name in config["targets"] for t in config["tables"][name]["tasks"]}
    paper = {n for n, t in tasks.items() if t.suite in PAPER_SUITES}
    assert paper == used & paper
    for name in config["targets"]:
        tab = config["tables"][name]
        assert set(tab["aligners"]) == {"none", "l2", "mmd", "otdd-exact", "otdd-gaussian"} and tab["seeds"] == [0, 1, 2]
        for t in tab["tasks"]:
            want = {"1d": {"roberta-base", "bert-base-uncased"}, "2d": {"swin-base"}}[tasks[t].input.modality]
            bbs = tab["backbones"]
            assert set(bbs if isinstance(bbs, list) else bbs[tasks[t].input.modality]) <= want, (name, t)
