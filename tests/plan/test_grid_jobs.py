"""orca/plan/grid.py + orca/spec/jobs.py: every job's settings are resolved once, and the job runs with exactly them.

The planner resolves one settings document per job (task file + config overrides + defaults + mode); the rule
hands it to the job, which rebuilds its task view from it alone. An override reaches every job whose settings
it changes, with its value, and leaves the hash of every other job alone."""
import copy
import json
import random
from pathlib import Path

import pytest
import yaml

from orca.plan.grid import BASELINE_PATH, RUN_PATH, Grid
from orca.spec.jobs import TASK_PATHS, JobSettings, JobSettingsError, cut

REPO = Path(__file__).resolve().parents[2]
STAGES = ("fetch", "align", "refine", "baseline")
ALL = set(STAGES)
ECG_PREPARE = yaml.safe_load((REPO / "benchmarks/nb360/ecg.yaml").read_text())["prepare"]
_MISSING = object()

# (task, config overrides, the stages whose settings they change): one case per overridable path
CASES = [
    ("iris", {"data": {"loader": "npz"}}, ALL),
    ("iris", {"data": {"args": {"test_size": 0.2}}}, ALL),
    ("iris", {"data": {"val_fraction": 0.2}}, ALL),
    ("iris", {"data": {"normalize": {"inputs": "fit"}}}, ALL),
    ("iris", {"input": {"shape": [1, 4]}}, {"align", "refine", "baseline"}),
    ("iris", {"prepare": ECG_PREPARE}, {"fetch"}),  # new files: fetch reruns, and with it every job after it
    ("advection1d", {"output": {"ignore": {"nan": True}}, "loss": {"name": "mse"}, "metric": "mae8"},
     {"align", "refine", "baseline"}),
    ("iris", {"embedder": {"target_seq_len": 16}}, {"align", "refine"}),
    ("iris", {"align": {"epochs": 3}}, {"align"}),
    ("iris", {"refine": {"epochs": 3}}, {"refine"}),
    ("iris", {"refine": {"lr": 0.01, "batch_size": 8}}, {"align", "refine"}),  # align inherits refine's optimizer
    ("iris", {"loss": {"label_smoothing": 0.1}}, {"refine"}),
    ("iris", {"output": {"num_outputs": 3}}, {"align", "refine", "baseline"}),
    ("iris", {"metric": "zero_one_error_pct"}, {"refine", "baseline"}),
    ("iris", {"eval": {"group_by": "clip_ids"}}, {"align", "refine", "baseline"}),
    ("iris", {"body": {"dropout": 0.1}}, {"refine"}),
    ("iris", {"body": {"pretrained": False}}, {"align", "refine"}),
    ("iris", {"resources": {"mem_mb": 5}, "title": "other"}, set()),
]


def grid(overrides: dict, tasks: list | None = None, **config_updates) -> Grid:
    """The default config's grid with ``overrides``; ``tasks``: a one-table config of just those rows (the
    overrides apply to every task a table uses, and some fit only some rows)."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config.update(benchmarks=[str(REPO / "benchmarks")], overrides=copy.deepcopy(overrides), **config_updates)
    if tasks:
        config.update(targets=["t"], tables={"t": {"tasks": tasks, "backbones": ["minilm-l6"], "aligners": ["l2"],
                                                   "seeds": [0]}})
    return Grid(config)


@pytest.fixture(scope="module")
def plain():
    return grid({})


def jobs_of(g: Grid, task: str) -> dict:
    """One job per stage of ``task``, as the rules plan them (job_of with the rule's wildcards)."""
    wild = {"task": task, "backbone": "minilm-l6", "method": "l2", "protocol": "clean", "seed": "0"}
    return {st: g.job_of(st, {**wild, "method": "xgboost"} if st == "baseline" else wild) for st in STAGES}


def received(job: JobSettings) -> JobSettings:
    """What the job itself runs with: the document as the rule passes it (text), checked against its hash."""
    return JobSettings.loads(job.dumps(), job.stage, job.settings_hash)


def leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from leaves(value, path + ".")
        else:
            yield path, value


def covers(stage: str, dotted: str) -> bool:
    return any(dotted == p or dotted.startswith(p + ".") for p in TASK_PATHS[stage])


def value_at(spec: dict, dotted: str):
    for key in dotted.split("."):
        if not isinstance(spec, dict) or key not in spec:
            return _MISSING
        spec = spec[key]
    return spec


@pytest.mark.parametrize("task,overrides,changed", CASES, ids=[json.dumps(c[1])[:60] for c in CASES])
def test_every_override_reaches_the_jobs_it_changes_and_no_other(plain, task, overrides, changed):
    before, after = jobs_of(plain, task), jobs_of(grid(overrides, [task]), task)
    for stage in STAGES:
        job = received(after[stage])
        assert (job.settings_hash != before[stage].settings_hash) == (stage in changed), stage
        for dotted, value in leaves(overrides):
            if covers(stage, dotted):  # the job's own task view holds the override's value
                assert value_at(job.task.spec, dotted) == json.loads(json.dumps(value)), (stage, dotted)


def test_refine_optimizer_overrides_reach_the_align_job_that_inherits_them(monkeypatch, tmp_path):
    """Regression: {refine: {lr: 0.01, batch_size: 8}} changed align's params, but its job ran with lr 0.003 and
    batch 32 (the job received only the align part of the overrides). Now it runs with what its settings say."""
    from orca import cli
    from orca.stages import align as align_mod
    from orca.training.optim import align_lr

    job = grid({"refine": {"lr": 0.01, "batch_size": 8}}).job_of(
        "align", {"task": "iris", "backbone": "minilm-l6", "method": "l2", "protocol": "clean", "seed": "0"})
    assert job.settings["task"]["align"]["lr"] == align_lr(0.01) and job.settings["task"]["align"]["batch_size"] == 8
    seen = {}

    class Stop(Exception):
        pass

    def spy(kind, params, lr, *args):
        seen["lr"] = lr
        raise Stop

    monkeypatch.setattr(align_mod, "make_optimizer", spy)
    monkeypatch.setattr(align_mod, "_class_loop", lambda task, run, *a: (seen.setdefault("batch", task.align.batch_size), 0))
    with pytest.raises(Stop):
        cli.main(["align", "--job", job.dumps(), "--settings-hash", job.settings_hash, "--source", "none.npz",
                  "--out-dir", str(tmp_path / "al"), "--data-dir", str(tmp_path / "data"), "--checkpoint-dir", "none"])
    assert seen == {"lr": align_lr(0.01), "batch": 8}


# a sample of numeric settings of every section a job reads, perturbed at random (seeded) for every paper row
PERTURBABLE = ("data.val_fraction", "embedder.target_seq_len", "embedder.patch_size", "body.dropout",
               "align.epochs", "align.maxsamples", "align.lr", "align.pseudo_labels", "align.max_source",
               "refine.lr", "refine.batch_size", "refine.eval_batch_size", "refine.weight_decay",
               "refine.clip", "refine.accum", "resources.mem_mb", "resources.runtime_min")


def _perturbed(value, rng):
    if isinstance(value, bool) or value is None:
        return 0.1
    if isinstance(value, int):
        return value + rng.randint(1, 3)
    return round(float(value) * rng.choice([0.5, 0.7, 1.3]), 6) or 0.05


def test_random_overrides_over_every_paper_row_reach_exactly_the_jobs_they_change():
    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    tasks = sorted({t for table in paper["tables"].values() for t in table["tasks"]})
    base = grid({}, tasks)
    rng = random.Random(18)
    checked = 0
    for task in tasks:
        spec = base.task(task).spec
        paths = rng.sample(PERTURBABLE, 3)
        overrides: dict = {}
        for dotted in paths:
            section, key = dotted.split(".")
            overrides.setdefault(section, {})[key] = _perturbed((spec.get(section) or {}).get(key), rng)
        if "val_fraction" in overrides.get("data", {}):
            overrides["data"]["val_fraction"] = min(0.5, overrides["data"]["val_fraction"])
        before, g = jobs_of(base, task), grid(overrides, [task])
        after, resolved = jobs_of(g, task), g.task(task).spec
        for stage in STAGES:
            job = received(after[stage])
            # the job's settings are the resolved task cut along its paths, nothing rebuilt; filtered only: refine.lora
            # of a job that runs no LoRA (method none: refine.finetune full)
            expected = json.loads(json.dumps(cut(resolved, TASK_PATHS[stage])))
            if stage == "refine":
                assert expected["refine"].pop("lora") and expected["refine"]["finetune"] == "full"
            assert job.settings["task"] == expected
            changed = cut(resolved, TASK_PATHS[stage]) != cut(spec, TASK_PATHS[stage])
            assert (job.settings_hash != before[stage].settings_hash) == changed, (task, stage, overrides)
            for dotted, value in leaves(overrides):
                if covers(stage, dotted):
                    assert value_at(job.task.spec, dotted) == value, (task, stage, dotted)
            checked += 1
    assert checked == 4 * len(tasks) and len(tasks) > 60


def test_a_job_refuses_settings_that_are_not_the_planned_ones(plain):
    job = jobs_of(plain, "iris")["refine"]
    doc = job.to_json()
    doc["settings"]["task"]["refine"]["lr"] = 1.0  # edited after planning
    with pytest.raises(JobSettingsError, match="plan again"):
        JobSettings.from_json(doc)
    with pytest.raises(JobSettingsError, match="planned --settings-hash"):
        JobSettings.loads(job.dumps(), "refine", expected_hash="0" * 12)
    with pytest.raises(JobSettingsError, match="not a align job's"):
        JobSettings.loads(job.dumps(), "align")


def test_a_stage_cannot_read_a_section_its_settings_leave_out(plain):
    align = received(jobs_of(plain, "iris")["align"])
    assert align.task.align.epochs >= 0
    with pytest.raises(AttributeError, match="no 'refine' section.*TASK_PATHS"):
        align.task.refine  # noqa: B018


def test_the_seeds_of_one_cell_share_their_settings_and_other_cells_need_not(plain):
    """The table's check that a cell's seeds ran with one settings hash needs the identity out of the hash."""
    wild = {"task": "iris", "backbone": "minilm-l6", "method": "l2", "protocol": "clean"}
    seeds = [plain.job_of("refine", {**wild, "seed": s}) for s in ("0", "1", "2")]
    assert len({j.settings_hash for j in seeds}) == 1 and [j.job["seed"] for j in seeds] == [0, 1, 2]
    other = plain.job_of("refine", {**wild, "protocol": "original", "seed": "0"})
    assert other.job["protocol"] == "original"


def test_rehearsal_is_a_setting_and_never_shares_a_key_with_a_real_run(plain):
    rehearsal = grid({}, rehearsal=True)
    for stage, job in jobs_of(rehearsal, "iris").items():
        assert job.mode == "rehearsal" and job.settings_hash != jobs_of(plain, "iris")[stage].settings_hash


def test_backbone_weights_and_the_code_version_are_settings(plain):
    wild = {"task": "iris", "backbone": "minilm-l6", "method": "l2", "protocol": "clean", "seed": "0"}
    local = grid({}, backbone_weights={"minilm-l6": "/models/minilm"})
    assert local.job_of("refine", wild).get("weights") == "/models/minilm"
    assert local.job_of("refine", wild).settings_hash != plain.job_of("refine", wild).settings_hash
    assert local.job_of("baseline", {**wild, "method": "xgboost"}).get("weights") is None
    coded = grid({}, cache_key="settings+code").job_of("refine", wild)
    assert len(coded.get("code")) == 12 and plain.job_of("refine", wild).get("code") is None


def test_table_runs_use_the_rules_output_patterns(plain):
    runs = plain.table_runs("default", "R")
    assert "R/" + RUN_PATH.format(task="iris", backbone="minilm-l6", method="none", protocol="clean", seed=0) in runs
    assert "R/" + BASELINE_PATH.format(task="iris", method="xgboost", seed=0) in runs
    rules = (REPO / "workflow/rules/refine.smk").read_text()
    assert "os.path.join(RESULTS, RUN_PATH)" in rules and "os.path.join(RESULTS, BASELINE_PATH)" in rules


def test_every_rule_passes_its_job_document_and_hash():
    for rule_file in ("align", "refine", "data", "sources", "rehearsal", "report"):
        text = (REPO / f"workflow/rules/{rule_file}.smk").read_text()
        assert "--job {params.job:q} --settings-hash {params.settings_hash}" in text, rule_file
        assert "--overrides" not in text and "--task " not in text, rule_file
