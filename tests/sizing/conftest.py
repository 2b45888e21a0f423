"""Configs for sizing tests: their own cache (full-size bodies, stand-ins) in a temporary folder."""
from __future__ import annotations

import subprocess
import sys

import yaml


def sizing_config(tmp_path, tables: dict, sizing: dict | None = None) -> str:
    """A config file over config/config.yaml with ``tables`` and a cache under ``tmp_path``."""
    path = tmp_path / "sizing-test.yaml"
    doc = {"cache_dir": str(tmp_path / "cache"), "tables": tables, "targets": list(tables),
           "sizing": {"warmup_steps": 0, "steps": 1, "micro_batches": [1, 2], **(sizing or {})}}
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def orca(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orca", *args], capture_output=True, text=True, timeout=timeout)
