"""orca.report.resources: measured use (benchmark TSV + the job's own usage) beside what each job asked for."""
import json

import pandas as pd

from orca.report.resources import ASK_LESS_MEM, build_resource_table, resource_frame

TSV_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def job(path, stage="refine", mem=1000, runtime=10, **ident):
    ident = {"task": "iris", "backbone": "minilm-l6", "method": "none", "protocol": "clean", "seed": 0, **ident}
    return {"stage": stage, "identity": ident, "path": path, "requested": {"mem_mb": mem, "runtime_min": runtime,
                                                                           "gpus": 0}}


def measure(results, path, wall, rss, usage=None):
    tsv = results / "benchmarks" / f"{path}.tsv"
    tsv.parent.mkdir(parents=True, exist_ok=True)
    if wall is not None:
        tsv.write_text(TSV_HEADER + f"{wall}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t0.5\n")
    if usage is not None:
        (results / "benchmarks" / f"{path}.usage.json").write_text(json.dumps(usage))


def test_flags_and_the_larger_of_the_two_peaks(tmp_path):
    measure(tmp_path, "refine/a", 30, 40.0, {"max_rss_mb": 900.0, "cpu_s": 25.0, "wall_s": 29, "exit_code": 0,
                                               "measured": "warm worker"})
    measure(tmp_path, "refine/b", 700, 1500.0)  # over memory (1500 > 1000) and over runtime (700 s > 600 s)
    measure(tmp_path, "refine/c", 1, 100.0)  # asks for 10x the memory and 600x the runtime it used
    measure(tmp_path, "refine/d", None, None, {"max_rss_mb": 3000.0, "cpu_s": 1, "wall_s": 2, "exit_code": 137,
                                                "measured": "in-process"})
    jobs = [job("refine/a", runtime=1), job("refine/b", seed=1), job("refine/c", seed=2), job("refine/d", seed=3),
            job("refine/e", seed=4)]
    frame = resource_frame(jobs, tmp_path).set_index("benchmark_tsv")
    rows = {p.rsplit("/", 1)[-1][:-4]: r for p, r in frame.iterrows()}
    a = rows["a"]
    assert a["used_mem_mb"] == 900.0 and a["snakemake_max_rss_mb"] == 40.0 and a["cpu_s"] == 25.0
    assert a["flag"] == "" and a["measured"] == "warm worker" and a["mem_used_pct"] == 90.0
    assert rows["b"]["flag"] == "over memory; over runtime"
    assert rows["c"]["flag"] == "ask less memory; ask less runtime" and 100 * ASK_LESS_MEM < 1000
    assert rows["d"]["status"] == "failed" and rows["d"]["job_max_rss_mb"] == 3000.0  # a crash keeps its figures
    assert rows["e"]["status"] == "missing" and pd.isna(rows["e"]["used_mem_mb"])


def test_a_success_without_its_tsv_is_not_this_runs_measurement(tmp_path):
    measure(tmp_path, "refine/a", None, None, {"max_rss_mb": 10.0, "cpu_s": 1, "wall_s": 1, "exit_code": 0,
                                               "measured": "in-process"})
    row = resource_frame([job("refine/a")], tmp_path).iloc[0]
    assert row["status"] == "missing" and pd.isna(row["job_max_rss_mb"])


def test_written_files(tmp_path):
    measure(tmp_path, "refine/a", 30, 400.0)
    measure(tmp_path, "baseline/iris/xgboost/seed0", 2, 150.0)
    jobs = [job("refine/a"), job("baseline/iris/xgboost/seed0", stage="baseline", method="xgboost", mem=2000)]
    written = build_resource_table(jobs, "t", tmp_path, tmp_path / "reports")
    csv = pd.read_csv(written["csv"])
    assert list(csv["stage"]) == ["refine", "baseline"] and list(csv["status"]) == ["done", "done"]
    md = written["md"].read_text()
    assert "# Resource use: t" in md and "2 jobs, 2 measured" in md and "| baseline" in md
    assert "ask less memory x1" in md  # the baseline asked 2000 MB for 150 MB
