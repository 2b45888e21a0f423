"""environment.yml: conda-forge only, and the same packages and lower bounds as pyproject.toml."""
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # PyPI name -> conda-forge name where they differ


def _split(spec: str) -> tuple[str, str]:
    m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", spec.strip())
    assert m, f"cannot read requirement {spec!r}"
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_conda_forge_only_and_no_pytorch_channel_packages():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert set(env["channels"]) <= {"conda-forge", "nodefaults"} and "conda-forge" in env["channels"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert not [d for d in conda if _split(d)[0] in ("cpuonly", "pytorch-cuda", "pytorch-mutex")]
    assert not [d for d in conda if "::" in d], "a channel-qualified package (channel::name) leaves conda-forge"


def test_same_dependencies_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = dict(_split(d) for d in project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    have = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    have |= dict(_split(d) for d in pip if not d.startswith("-e"))
    for name, bound in wanted.items():
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in have, f"{name} (pyproject.toml) missing from environment.yml"
        assert have[conda_name] == bound, f"{name}: pyproject.toml says {bound}, environment.yml {have[conda_name]}"
    extra = set(have) - {CONDA_NAMES.get(n, n) for n in wanted} - {"python", "pip"}
    assert not extra, f"environment.yml has packages pyproject.toml does not declare: {sorted(extra)}"
