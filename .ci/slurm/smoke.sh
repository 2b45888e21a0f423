#!/usr/bin/env bash
# Smoke test of `snakemake --profile slurm` on a running cluster (.ci/slurm/start.sh), then the same grid
# locally; checks that every non-local job went through sbatch and that both runs give the same scores.
#   .ci/slurm/smoke.sh [WORK_DIR]        (default: a new temporary folder, removed on success)
# Env: SMOKE_LIMIT_S (per snakemake run, default 900), SMOKE_TASKS (default "iris wine"),
#      SMOKE_KEEP=1 keeps WORK_DIR. Needs the venv on PATH (orca, snakemake); jobs inherit it (--export=ALL).
# Last line on success: "smoke: OK ..." with the job count, timings and number of equal scores.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIMIT=${SMOKE_LIMIT_S:-900}
TASKS=${SMOKE_TASKS:-"iris wine"}
WORK=${1:-$(mktemp -d /tmp/orca-slurm-smoke.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

die() { echo "smoke: FAIL: $*" >&2; echo "smoke: work folder kept: $WORK" >&2; exit 1; }

command -v snakemake >/dev/null || die "snakemake not on PATH (activate the venv: . .venv/bin/activate)"
command -v orca >/dev/null || die "orca not on PATH (activate the venv)"
sinfo -h >/dev/null 2>&1 || die "sinfo does not answer: start the cluster (sudo .ci/slurm/start.sh)"

# Two copies of the workflow, so that the runs share no logs/, .snakemake/ or outputs with each other or the repo.
# The `slurm` link comes along, so the literal `snakemake --profile slurm` is what runs.
for run in slurm local; do
    mkdir -p "$WORK/$run"
    cp -a "$REPO/Snakefile" "$REPO/config" "$REPO/workflow" "$REPO/benchmarks" "$REPO/slurm" "$WORK/$run/"
    tasks_yaml=$(printf '%s, ' $TASKS); tasks_yaml=${tasks_yaml%, }
    cat > "$WORK/$run/smoke.yaml" <<CFG
cache_dir: $WORK/$run/cache
data_dir: $WORK/$run/cache/data
results_dir: $WORK/$run/results
reports_dir: $WORK/$run/reports
source_max_samples: 500
overrides: {align: {epochs: 2}, refine: {epochs: 2}}
targets: [smoke]
tables:
  smoke:
    title: "SLURM smoke test"
    tasks: [$tasks_yaml]
    backbones: [minilm-l6]
    aligners: [none, l2]
    baselines: []
    seeds: [0]
CFG
done

# 1. On SLURM. squeue for status (the CI cluster keeps no accounting, so sacct cannot answer);
#    first status check after 5 s instead of 40 s; keep every job's sbatch log for the checks below.
cd "$WORK/slurm"
start=$SECONDS
set +e
timeout -s TERM -k 30 "$LIMIT" snakemake --profile slurm --configfile smoke.yaml \
    --slurm-status-command squeue --slurm-init-seconds-before-status-checks 5 \
    --slurm-keep-successful-logs --slurm-delete-logfiles-older-than 0 >run.log 2>&1
rc=$?
set -e
slurm_s=$(( SECONDS - start ))
if (( rc != 0 )); then
    tail -n 60 run.log >&2
    die "snakemake --profile slurm exited $rc after ${slurm_s}s (124 = timed out after ${LIMIT}s); log: $WORK/slurm/run.log"
fi

# Every job of a non-local rule must have been submitted with sbatch, and SLURM must list it as COMPLETED.
python3 - "$WORK/slurm/run.log" "$WORK/slurm/logs/slurm" <<'PY'
import re, subprocess, sys
from pathlib import Path

log = Path(sys.argv[1]).read_text()
slurm_logs = Path(sys.argv[2])
local_rules = {"all", "fetch"}
stats = re.search(r"Job stats:\n(.*?)\n(?:total\s+(\d+))", log, re.S)
if not stats:
    sys.exit("smoke: FAIL: no 'Job stats' table in the log")
counts = {}
for line in stats.group(1).splitlines():
    parts = line.split()
    if len(parts) == 2 and parts[1].isdigit():
        counts[parts[0]] = int(parts[1])
remote = {r: n for r, n in counts.items() if r not in local_rules and not r.startswith(("table_", "resources_"))}
expected = sum(remote.values())
ids = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log)
slurm_ids = sorted({s for _, s in ids}, key=int)
if expected == 0 or len(ids) != expected or len(slurm_ids) != expected:
    sys.exit(f"smoke: FAIL: {expected} non-local jobs {remote}, but {len(ids)} sbatch submissions")
states = dict(line.split("|", 1) for line in subprocess.run(
    ["squeue", "--states=all", "--noheader", "--format=%i|%T", "--jobs=" + ",".join(slurm_ids)],
    capture_output=True, text=True, check=True).stdout.split())
bad = {i: states.get(i, "missing") for i in slurm_ids if states.get(i) != "COMPLETED"}
if bad:
    sys.exit(f"smoke: FAIL: SLURM jobs not COMPLETED: {bad}")
logs = sorted(slurm_logs.rglob("*.log"))
if len(logs) != expected:
    sys.exit(f"smoke: FAIL: {len(logs)} sbatch logs under {slurm_logs}, expected {expected}")
local = len(re.findall(r"^localrule ", log, re.M))
print(f"smoke: {expected} jobs through sbatch ({', '.join(f'{r} {n}' for r, n in sorted(remote.items()))};"
      f" SLURM ids {slurm_ids[0]}-{slurm_ids[-1]}, all COMPLETED), {local} local jobs")
PY

# 2. The same grid on this machine.
cd "$WORK/local"
start=$SECONDS
set +e
timeout -s TERM -k 30 "$LIMIT" snakemake --cores 2 --configfile smoke.yaml >run.log 2>&1
rc=$?
set -e
local_s=$(( SECONDS - start ))
if (( rc != 0 )); then
    tail -n 60 run.log >&2
    die "local snakemake exited $rc after ${local_s}s; log: $WORK/local/run.log"
fi

# 3. Same seed, same CPU code: the per-run test scores must be identical.
python3 - "$WORK/slurm/results" "$WORK/local/results" <<'PY'
import json, sys
from pathlib import Path

a, b = (Path(p) for p in sys.argv[1:3])
runs_a = {p.relative_to(a): p for p in a.glob("runs/**/seed*.json")}
runs_b = {p.relative_to(b): p for p in b.glob("runs/**/seed*.json")}
if not runs_a or set(runs_a) != set(runs_b):
    sys.exit(f"smoke: FAIL: run files differ: slurm {sorted(map(str, runs_a))} local {sorted(map(str, runs_b))}")
diff = []
for rel in sorted(runs_a):
    sa = json.loads(runs_a[rel].read_text())["scores"]["test_at_best_val"]
    sb = json.loads(runs_b[rel].read_text())["scores"]["test_at_best_val"]
    print(f"smoke:   {rel}: slurm {sa!r} local {sb!r}")
    if sa != sb:
        diff.append(str(rel))
if diff:
    sys.exit(f"smoke: FAIL: test_at_best_val differs for {diff}")
print(f"smoke: {len(runs_a)} scores equal")
PY

[[ -s $WORK/slurm/results/smoke.csv && -s $WORK/slurm/reports/smoke.md ]] || die "table smoke not written by the SLURM run"
echo "smoke: OK slurm_run_s=${slurm_s} local_run_s=${local_s} work=${WORK}"
if [[ -z ${SMOKE_KEEP:-} && -z ${1:-} ]]; then rm -rf "$WORK"; fi
