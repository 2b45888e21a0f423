"""The follow-ups configs plan: RECRAFT's offline layer adds its align and refine jobs to the offline table and
nothing else; the paper follow-ups table runs RECRAFT on every row."""
from orca.plan.config import load_config, planning_config
from orca.plan.grid import Grid


def _jobs(*files):
    grid = Grid(planning_config(load_config(list(files))))
    table = grid.config["targets"][0]
    return grid, {j["path"] for j in grid.table_jobs(table)}


def test_the_recraft_layer_adds_only_recraft_jobs_to_the_offline_table():
    _, base = _jobs("config/followups-offline.yaml")
    grid, layered = _jobs("config/followups-offline.yaml", "config/followups-offline-recraft.yaml")
    added = layered - base
    assert base <= layered and all("/recraft/" in p or "/recraft-e2/" in p for p in added)
    # 6 rows x 3 seeds: one align job each, refined twice (recraft, and recraft-e2 from the table's align_epochs)
    assert len(added) == 3 * 6 * 3


def test_the_paper_follow_ups_table_runs_recraft_on_every_row():
    grid, jobs = _jobs("config/paper.yaml", "config/followups.yaml")
    tasks = grid.config["tables"]["followups"]["tasks"]
    assert {p.split("/")[1] for p in jobs if p.startswith("align/") and "/recraft/" in p} == set(tasks)
