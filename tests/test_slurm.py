"""The SLURM profile: how `--profile slurm` resolves and parses (always), and a real run (on a cluster).

The cluster test needs a running SLURM (CI: `sudo .ci/slurm/start.sh`, then `pytest -m slurm`); it is
skipped when `sinfo` does not answer. It runs .ci/slurm/smoke.sh: a small grid through
`snakemake --profile slurm`, every non-local job checked to have gone through sbatch, then the same
grid locally with equal test scores.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm"


def test_profile_name_resolves_from_repo_root(monkeypatch):
    from snakemake.cli import get_profile_dir

    monkeypatch.chdir(REPO)
    found = get_profile_dir("slurm")
    assert found is not None, "`--profile slurm` finds nothing in the repository root"
    profile_dir, config_file = found
    assert Path(profile_dir).resolve() == PROFILE.resolve()
    assert Path(config_file).resolve() == (PROFILE / "config.yaml").resolve()


@pytest.mark.parametrize("env, partition, account", [
    ({}, "None", "None"),
    ({"SBATCH_PARTITION": "gpu", "SBATCH_ACCOUNT": "proj1"}, "'gpu'", "'proj1'"),
])
def test_profile_settings(monkeypatch, env, partition, account):
    from snakemake.profiles import ProfileConfigFileParser

    for name in ("SBATCH_PARTITION", "SBATCH_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with open(PROFILE / "config.yaml") as stream:
        parsed = ProfileConfigFileParser().parse(stream)
    assert parsed["executor"] == "slurm"
    assert int(parsed["restart-times"]) >= 1
    resources = dict(item.split("=", 1) for item in parsed["default-resources"])
    # values are Python expressions for Snakemake: None drops the resource, so the plugin picks the default
    assert resources["slurm_partition"] == partition
    assert resources["slurm_account"] == account


def _cluster_up() -> bool:
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        return False
    try:
        return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.slurm
def test_smoke_grid_through_slurm_matches_local(tmp_path):
    if not _cluster_up():
        if os.environ.get("ORCA_REQUIRE_SLURM"):  # CI started a cluster: a silent skip would prove nothing
            pytest.fail("ORCA_REQUIRE_SLURM is set but no SLURM cluster answers (see .ci/slurm/start.sh output)")
        pytest.skip("no SLURM cluster answers (start one: sudo .ci/slurm/start.sh)")
    limit = int(os.environ.get("SMOKE_LIMIT_S", "900"))
    proc = subprocess.run([str(REPO / ".ci" / "slurm" / "smoke.sh"), str(tmp_path / "smoke")],
                          cwd=REPO, capture_output=True, text=True, timeout=2 * limit + 180,
                          env={**os.environ, "SMOKE_LIMIT_S": str(limit),
                               # snakemake and orca of this interpreter's environment, for us and the jobs
                               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    submitted = re.search(r"smoke: (\d+) jobs through sbatch .*all COMPLETED", out)
    assert submitted and int(submitted.group(1)) >= 3, out[-4000:]
    equal = re.search(r"smoke: (\d+) scores equal", out)
    assert equal and int(equal.group(1)) >= 2, out[-4000:]
    assert "smoke: OK" in out
