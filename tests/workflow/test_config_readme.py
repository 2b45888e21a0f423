"""config/README.md (the workflow catalog's configuration reference) is generated from the config schema and current."""
import importlib.util
import subprocess
import sys

import yaml

from tests.workflow.test_e2e import REPO

_spec = importlib.util.spec_from_file_location("config_readme", REPO / "scripts" / "config_readme.py")
config_readme = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(config_readme)


def schema_keys(node: dict, prefix: str = "") -> set[str]:
    """Every dotted key of the schema, walked independently of the generator."""
    found = set()
    for name, sub in (node.get("properties") or {}).items():
        found.add(prefix + name)
        found |= schema_keys(sub, f"{prefix}{name}.")
        for alt in sub.get("oneOf") or []:
            found |= schema_keys(alt, f"{prefix}{name}.")
        values = sub.get("additionalProperties")
        if isinstance(values, dict):
            found |= schema_keys(values, f"{prefix}{name}.{config_readme.PLACEHOLDERS.get(name, '<name>')}.")
    return found


def test_readme_is_current():
    proc = subprocess.run([sys.executable, "scripts/config_readme.py", "--check"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_schema_key_has_a_row_and_a_description():
    schema = yaml.safe_load(config_readme.SCHEMA.read_text())
    keys = schema_keys(schema)
    assert {"benchmarks", "tables.<table>.seeds", "tables.<table>.backbones.1d",
            "tables.<table>.summary.groups.<group>.tasks"} <= keys
    readme = (REPO / "config" / "README.md").read_text()
    rows = {line.split("|")[1].strip().strip("`") for line in readme.splitlines() if line.startswith("| `")}
    assert rows == keys
    assert all(node.get("description") for _, node, _ in config_readme.keys(schema))


def test_every_key_of_the_default_config_is_in_the_schema():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert set(config) <= schema_keys(yaml.safe_load(config_readme.SCHEMA.read_text()))


def test_check_fails_on_a_stale_readme_and_a_key_without_description(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "README.md"
    stale.write_text(config_readme.render().replace("| `cache_dir` |", "| `cachedir` |"))
    monkeypatch.setattr(config_readme, "README", stale)
    assert config_readme.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert config_readme.main([]) == 0 and config_readme.main(["--check"]) == 0  # rewritten: current again

    schema = yaml.safe_load(config_readme.SCHEMA.read_text())
    del schema["properties"]["tables"]["additionalProperties"]["properties"]["seeds"]["description"]
    undocumented = tmp_path / "config.schema.yaml"
    undocumented.write_text(yaml.safe_dump(schema))
    monkeypatch.setattr(config_readme, "SCHEMA", undocumented)
    assert config_readme.main(["--check"]) == 2
    assert "tables.<table>.seeds has no description" in capsys.readouterr().err
