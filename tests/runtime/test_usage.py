"""orca.runtime.usage: the --usage-out option of every `orca` command, run in-process."""
import json
import subprocess
import sys

import pytest

from orca.runtime.usage import split_usage_arg


def test_split_takes_the_option_off_only_before_the_command():
    assert split_usage_arg(["--usage-out", "u.json", "refine", "--x"]) == ("u.json", ["refine", "--x"])
    assert split_usage_arg(["--usage-out=u.json", "tasks"]) == ("u.json", ["tasks"])
    assert split_usage_arg(["refine", "--usage-out", "u.json"]) == (None, ["refine", "--usage-out", "u.json"])
    with pytest.raises(SystemExit):
        split_usage_arg(["--usage-out"])


def test_in_process_usage_is_written_for_success_and_for_failure(tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    subprocess.run([sys.executable, "-m", "orca", "--usage-out", str(good), "tasks"], check=True,
                   capture_output=True)
    proc = subprocess.run([sys.executable, "-m", "orca", "--usage-out", str(bad), "baseline", "--job", "{",
                           "--settings-hash", "x", "--out", str(tmp_path / "o.json")], capture_output=True, text=True)
    assert proc.returncode == 2
    g, b = json.loads(good.read_text()), json.loads(bad.read_text())
    assert g["exit_code"] == 0 and g["command"] == "tasks" and g["measured"] == "in-process"
    assert b["exit_code"] == 2 and b["command"] == "baseline"
    assert g["max_rss_mb"] > 10 and g["cpu_s"] > 0 and g["wall_s"] >= 0
