"""The code-aware cache key's stage hashes (orca.spec.code_version): closures found by parsing, never importing."""
from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orca.spec import code_version
from orca.spec.code_version import STAGE_ENTRIES, code_versions, module_closure, stage_code_hash

ROOT = Path(code_version.__file__).resolve().parent.parent  # the orca package folder


@pytest.fixture
def orca_copy(tmp_path) -> Path:
    """A copy of the orca package, free to edit."""
    dest = tmp_path / "orca"
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    stage_code_hash.cache_clear()
    yield dest
    stage_code_hash.cache_clear()


def test_every_stage_entry_is_a_module_of_orca():
    for stage, entries in STAGE_ENTRIES.items():
        assert entries, stage
        for entry in entries:
            rel = Path(*entry.split(".")[1:])
            assert (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file(), entry
        assert set(entries) <= set(module_closure(entries)), stage


def test_the_refine_closure_reaches_the_loss_and_the_training_loop_not_the_report():
    closure = set(module_closure(STAGE_ENTRIES["refine"]))
    assert {"orca.stages.refine", "orca.training.losses", "orca.training.optim", "orca.model.network",
            "orca.stages.records"} <= closure
    assert not {m for m in closure if m == "orca.report" or m.startswith("orca.report.")}
    assert "orca.stages.baselines" not in closure and "orca.cli" not in closure


def test_the_report_closure_leaves_out_training_and_the_other_stages():
    closure = set(module_closure(STAGE_ENTRIES["report"]))
    assert {"orca.report", "orca.report.tables", "orca.report.aggregate", "orca.stages.records"} <= closure
    assert not closure & {"orca.stages.refine", "orca.stages.align", "orca.stages.baselines", "orca.stages.sources"}
    assert not {m for m in closure if m.startswith(("orca.training", "orca.model"))}


def test_the_baseline_closure_leaves_out_the_network_and_refine():
    closure = set(module_closure(STAGE_ENTRIES["baseline"]))
    assert "orca.stages.baselines" in closure
    assert not closure & {"orca.stages.refine", "orca.model.network", "orca.model.backbones"}
    # orca.spec.tasks checks a task's loss name against the torch-free names, not the loss modules
    assert "orca.training.loss_names" in closure and "orca.training.losses" not in closure


def test_packages_above_an_imported_module_count():
    closure = module_closure(["orca.training.losses"])
    assert {"orca", "orca.training"} <= set(closure)
    assert closure == sorted(closure)


def test_unknown_entries_and_stages_are_refused():
    with pytest.raises(ValueError, match="orca.no.such"):
        module_closure(["orca.no.such"])
    with pytest.raises(ValueError, match="allowed: fetch, prepare, standin, sources, align, refine, baseline, report"):
        stage_code_hash("train")


def test_imports_of_every_form_are_followed(tmp_path):
    """Absolute, relative, ``from pkg import submodule``, ``from . import x`` and imports inside functions."""
    pkg = tmp_path / "orca"
    files = {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/entry.py": """
            import os
            from .sibling import thing
            from ..b import sub
            from orca.c import deep
            from . import other
            def late():
                import orca.d.inside
                from ..e import f as g
            """,
        "a/sibling.py": "thing = 1\n",
        "a/other.py": "",
        "a/unused.py": "",
        "b/__init__.py": "",
        "b/sub.py": "",
        "c/__init__.py": "",
        "c/deep.py": "from .deeper import x\n",
        "c/deeper.py": "x = 1\n",
        "d/__init__.py": "",
        "d/inside.py": "",
        "e/__init__.py": "f = 1\n",
        "z.py": "",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(textwrap.dedent(text))
    assert module_closure(["orca.a.entry"], root=pkg) == sorted([
        "orca", "orca.a", "orca.a.entry", "orca.a.sibling", "orca.a.other", "orca.b", "orca.b.sub", "orca.c",
        "orca.c.deep", "orca.c.deeper", "orca.d", "orca.d.inside", "orca.e"])


def test_hashes_are_short_deterministic_and_independent_of_where_the_package_lies(orca_copy):
    first = code_versions(STAGE_ENTRIES, root=orca_copy)
    assert all(len(h) == 12 and int(h, 16) >= 0 for h in first.values())
    assert first["fetch"] == first["prepare"]  # the same entries
    assert len({first[s] for s in ("refine", "report", "baseline", "align")}) == 4
    stage_code_hash.cache_clear()
    assert code_versions(STAGE_ENTRIES, root=orca_copy) == first
    moved = orca_copy.parent / "elsewhere" / "orca"
    shutil.copytree(orca_copy, moved)
    assert code_versions(STAGE_ENTRIES, root=moved) == first


def _hashes_before_and_after_editing(orca_copy, module: str) -> tuple[dict, dict]:
    """refine's and report's code hashes before and after a comment is appended to ``module`` (a path)."""
    before = code_versions(["refine", "report"], root=orca_copy)
    edited = orca_copy / module
    edited.write_text(edited.read_text() + "\n# an edit\n")
    stage_code_hash.cache_clear()
    return before, code_versions(["refine", "report"], root=orca_copy)


def test_a_changed_loss_changes_refine_and_not_report(orca_copy):
    before, after = _hashes_before_and_after_editing(orca_copy, "training/losses.py")
    assert after["refine"] != before["refine"]
    assert after["report"] == before["report"]


def test_a_changed_report_module_changes_report_and_not_refine(orca_copy):
    before, after = _hashes_before_and_after_editing(orca_copy, "report/tables.py")
    assert after["report"] != before["report"] and after["refine"] == before["refine"]


def test_the_hash_is_cached_per_stage_in_a_process(orca_copy):
    before = stage_code_hash("refine", root=orca_copy)
    losses = orca_copy / "training" / "losses.py"
    losses.write_text(losses.read_text() + "\n# changed after the first hash\n")
    assert stage_code_hash("refine", root=orca_copy) == before  # planning hashes each stage once
    stage_code_hash.cache_clear()
    assert stage_code_hash("refine", root=orca_copy) != before


def test_hashing_imports_neither_torch_nor_the_modules_it_hashes():
    code = ("import sys; from orca.spec.code_version import code_versions, STAGE_ENTRIES; "
            "code_versions(STAGE_ENTRIES); "
            "print(' '.join(sorted(m for m in sys.modules if m == 'torch' or m.startswith('orca'))))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert "torch" not in loaded
    assert loaded == set(module_closure(["orca.spec.code_version"])) == {"orca", "orca.spec", "orca.spec.code_version"}


def test_a_changed_built_in_method_changes_align_and_refine_not_report(orca_copy):
    """Built-in method files are imported by computed name (orca.methods): the align and refine closures still
    start in each of them, and in what each imports (the aligners' modules)."""
    before = code_versions(["align", "refine", "report"], root=orca_copy)
    edited = orca_copy / "methods" / "builtin" / "mmd.py"
    edited.write_text(edited.read_text() + "\n# an edit\n")
    stage_code_hash.cache_clear()
    after = code_versions(["align", "refine", "report"], root=orca_copy)
    assert after["align"] != before["align"] and after["refine"] != before["refine"]
    assert after["report"] == before["report"]
