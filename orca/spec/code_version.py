"""The code a stage runs, as a short hash: the opt-in code-aware cache key (config ``cache_key: settings+code``).

A job's key then also hashes the source of every orca module its stage can reach, so a changed loss function
re-runs refine while a changed report module does not.

- :data:`STAGE_ENTRIES`: stage -> the orca modules its job starts in;
- :func:`module_closure`: every orca module reachable from some entries through their imports (module level
  and inside functions, absolute and relative), found by parsing source with :mod:`ast`: nothing is imported,
  so this is fast enough for Snakemake's planning and never loads torch;
- :func:`stage_code_hash`: 12 hex of sha256 over the closure's (module name, source bytes), once per stage
  and process (:func:`functools.lru_cache`); :func:`code_versions` for several stages.

What the hash does not see: imports by computed name (``importlib.import_module(name)``; the built-in method
files, which orca.methods imports so, are added to the align and refine entries), data files the code
reads (``orca/schemas``, ``orca/backbones``, a method's settings YAML: its values are in the job's settings), third-party packages (the record's provenance names their versions), and modules
outside a stage's closure that run around it (``orca.cli`` parses the arguments of every stage).

A leaf of the spec layer: imports nothing of orca.
"""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

__all__ = ["STAGE_ENTRIES", "code_versions", "module_closure", "stage_code_hash"]

#: The top-level package's name (also when ``root`` is a copy in a folder of another name).
PACKAGE = "orca"

#: The orca package folder this module belongs to (the default ``root``).
DEFAULT_ROOT = Path(__file__).resolve().parent.parent

_DATA = ("orca.data.download.fetching", "orca.data.preparation.prepare", "orca.data")

#: stage -> the orca modules a job of that stage starts in.
STAGE_ENTRIES: dict[str, tuple[str, ...]] = {
    "fetch": _DATA,
    "prepare": _DATA,
    "standin": ("orca.rehearsal.standins",),
    "sources": ("orca.stages.sources",),
    "align": ("orca.stages.align",),
    "refine": ("orca.stages.refine",),
    "baseline": ("orca.stages.baselines",),
    "report": ("orca.report",),
}


def _root(root: str | Path | None) -> Path:
    return Path(root).resolve() if root is not None else DEFAULT_ROOT


def _module_files(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``: dotted name -> file (a package's name -> its ``__init__.py``)."""
    out = {}
    for f in sorted(root.rglob("*.py")):
        parts = [PACKAGE, *f.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


def _imported(name: str, path: Path, tree: ast.AST, modules) -> set[str]:
    """The orca modules that module ``name`` (parsed as ``tree``) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level > len(parts):  # ``from ...`` above the top package: not orca's
                    continue
                base = parts[: len(parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]  # ``from pkg import submodule``
        else:
            continue
        found.update(c for c in candidates if c in modules)
    return found


def _with_packages(name: str, modules: dict[str, Path]) -> list[str]:
    """``name`` and the packages above it (importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__``)."""
    parts = name.split(".")
    return [p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if p in modules]


def module_closure(entries, root: str | Path | None = None) -> list[str]:
    """Every orca module reachable from ``entries`` (dotted names) through imports, sorted; the entries and the
    packages above each module included. ``root``: the orca package folder (default: this one). An entry that
    is no module there: ValueError."""
    modules = _module_files(_root(root))
    entries = list(entries)
    unknown = [e for e in entries if e not in modules]
    if unknown:
        raise ValueError(f"not orca modules under {_root(root)}: {', '.join(unknown)}")
    names = frozenset(modules)
    seen: set[str] = set()
    todo = [m for e in entries for m in _with_packages(e, modules)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = modules[name]
        stat = path.stat()
        for dep in _imports_of(name, path, stat.st_mtime_ns, stat.st_size, names):
            todo.extend(m for m in _with_packages(dep, modules) if m not in seen)
    return sorted(seen)


@lru_cache(maxsize=4096)
def _imports_of(name: str, path: Path, mtime_ns: int, size: int, modules: frozenset[str]) -> frozenset[str]:
    """:func:`_imported` of one file, parsed once per process while it keeps its mtime and size."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    return frozenset(_imported(name, path, tree, modules))


#: the stages that look methods up by name (orca.methods imports the built-in method files by computed name,
#: which the import graph cannot see): their closure starts in every built-in method file too
METHOD_STAGES = ("align", "refine")


def _entries(stage: str, modules: dict[str, Path]) -> list[str]:
    builtin = f"{PACKAGE}.methods.builtin."
    extra = sorted(m for m in modules if m.startswith(builtin)) if stage in METHOD_STAGES else []
    return [*STAGE_ENTRIES[stage], *extra]


@lru_cache(maxsize=None)
def _hash(stage: str, root: Path) -> str:
    modules = _module_files(root)
    digest = hashlib.sha256()
    for name in module_closure(_entries(stage, modules), root):  # sorted by name
        source = modules[name].read_bytes()
        for part in (name.encode(), source):  # length-prefixed: no two closures feed the same bytes
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()[:12]


def stage_code_hash(stage: str, root: str | Path | None = None) -> str:
    """12 hex of sha256 over the sorted (module name, source bytes) of ``stage``'s :func:`module_closure`.
    Computed once per (stage, root) in a process (``stage_code_hash.cache_clear()`` forgets them). The same
    sources give the same hash wherever the package lies. An unknown stage: ValueError naming the allowed ones."""
    if stage not in STAGE_ENTRIES:
        raise ValueError(f"unknown stage {stage!r}; allowed: {', '.join(STAGE_ENTRIES)}")
    return _hash(stage, _root(root))


def _cache_clear() -> None:
    _hash.cache_clear()
    _imports_of.cache_clear()


stage_code_hash.cache_clear = _cache_clear  # type: ignore[attr-defined]


def code_versions(stages, root: str | Path | None = None) -> dict[str, str]:
    """stage -> :func:`stage_code_hash` for each of ``stages``."""
    return {stage: stage_code_hash(stage, root) for stage in stages}
