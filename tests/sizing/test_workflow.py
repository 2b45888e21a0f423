"""The sizing rules: `snakemake ... config/sizing.yaml -- cost` plans one size_unit job per unit, then the cost."""
from __future__ import annotations

import re
import shutil
import subprocess


def test_the_cost_target_plans_one_job_per_unit(tmp_path):
    where = tmp_path / "where.yaml"
    where.write_text(f"sizing_run: {{dir: {tmp_path}/sizing}}\nreports_dir: {tmp_path}/reports\n")
    done = subprocess.run([shutil.which("snakemake"), "-n", "--configfile", "config/sizing.yaml", str(where),
                           "--", "cost"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    counts = dict(re.findall(r"^(size_unit|cost)\s+(\d+)$", done.stdout, re.M))
    assert counts == {"size_unit": "6", "cost": "1"}, done.stdout[-1500:]
    assert f"{tmp_path}/sizing/iris--minilm-l6--cpu.json" in done.stdout
