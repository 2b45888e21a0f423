"""Methods by name: each one file in a folder, registered when its folder is loaded (no torch at load time).

A method is what a grid cell's ``method`` names: an **align method** (an objective the align stage trains the
embedder with, or ``none``: naive fine-tuning) or a **control** (refine without an aligned embedder, with the body
or the way it trains changed). The built-in ones are ``orca/methods/builtin/*.py``; a config's ``method_dirs``
adds folders of a user's own. A method file defines ``METHOD`` (like a benchopt solver)::

    from orca.methods import AlignMethod

    def make_aligner(solver="converged", scale=1.0):    # its settings are the keyword arguments' defaults
        from orca.align.distances import L2Aligner       # torch inside: planning never imports it
        ...
        return aligner                                   # an orca.align.distances.Aligner

    METHOD = AlignMethod("scaled-l2", "L2 between feature means, scaled", make_aligner=make_aligner)

Settings: a method's own settings are declared with their defaults (``settings=``, or a ``<file stem>.yaml``
beside the file: ``{settings: {key: default}, tasks: {task: {key: value}}}``, per-task values over the
defaults), and a config's ``method_settings: {method: {key: value}}`` goes over both. The resolved settings of a
job are in its settings document (``method.settings``, hashed). A method that is not built in also puts its
file and the file's sha256 there, so the job's process loads the planned file and a changed file changes the
hash (:func:`method_setting`, :func:`register_method_setting`).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

from .base import BODIES, ControlMethod, Method, MethodError

__all__ = ["BUILTIN_DIR", "all_methods", "get_method", "load_method_file", "method_setting", "methods_of_kind",
           "register_method_dirs", "register_method_setting", "resolve_settings"]

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def _module_of(path: Path, builtin: bool):
    """Import one method file: a built-in one as ``orca.methods.builtin.<stem>``, a user's under a private name."""
    if builtin:
        return importlib.import_module(f"orca.methods.builtin.{path.stem}")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"orca_user_methods_{digest}.{path.stem.replace('-', '_')}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise MethodError(f"method file {path}: importing it failed ({type(err).__name__}: {err})") from err
    return module


def _settings_file(path: Path) -> tuple[dict, dict]:
    """``<stem>.yaml`` beside a method file: (defaults, per-task values); empty when there is none."""
    import yaml

    side = path.with_suffix(".yaml")
    if not side.is_file():
        return {}, {}
    doc = yaml.safe_load(side.read_text()) or {}
    if not isinstance(doc, dict) or set(doc) - {"settings", "tasks"}:
        raise MethodError(f"{side}: a method's settings file is a mapping with settings: {{key: default}} and "
                          "tasks: {task: {key: value}}")
    return dict(doc.get("settings") or {}), {t: dict(v or {}) for t, v in (doc.get("tasks") or {}).items()}


def load_method_file(path: str | Path, builtin: bool = False) -> Method:
    """The method one file defines (its ``METHOD``), with the settings file beside it merged in."""
    path = Path(path)
    module = _module_of(path, builtin)
    method = getattr(module, "METHOD", None)
    if not isinstance(method, Method):
        raise MethodError(f"method file {path}: defines no METHOD (an orca.methods AlignMethod or ControlMethod)")
    defaults, per_task = _settings_file(path)
    method = replace(method, settings={**method.settings, **defaults},
                     task_settings={**method.task_settings, **per_task}, file=str(path.resolve()), builtin=builtin)
    _check(method)
    return method


def _check(method: Method) -> None:
    where = f"method {method.name!r} ({method.file})"
    if isinstance(method, ControlMethod) and method.body not in BODIES:
        raise MethodError(f"{where}: body {method.body!r}; allowed: {', '.join(BODIES)}")
    for task, values in method.task_settings.items():
        _check_keys(method, values, f"{where}, tasks.{task}")


def _check_keys(method: Method, values: dict, where: str) -> None:
    unknown = sorted(set(values) - set(method.settings))
    if unknown:
        raise MethodError(f"{where}: unknown setting(s) {', '.join(unknown)}; {method.name} has "
                          f"{', '.join(sorted(method.settings)) or 'no settings'}")
    for key, value in values.items():
        default = method.settings[key]
        if default is not None and value is not None and not _same_type(default, value):
            raise MethodError(f"{where}: {key} = {value!r} is not a {type(default).__name__} like its default "
                              f"{default!r}")


def _same_type(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _load_dir(folder: str | Path, builtin: bool = False) -> dict[str, Method]:
    folder = Path(folder)
    if not folder.is_dir():
        raise MethodError(f"method folder {folder} does not exist; fix method_dirs in the config")
    out: dict[str, Method] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        method = load_method_file(path, builtin)
        if method.name in out:
            raise MethodError(f"method {method.name!r} is defined twice: {out[method.name].file} and {path}")
        out[method.name] = method
    return out


#: every method by name: the built-in ones (loaded on first use), then those of registered folders
_METHODS: dict[str, Method] = {}


def all_methods() -> dict[str, Method]:
    """Every registered method by name (the built-in ones loaded on the first call)."""
    if not _METHODS:
        _METHODS.update(_load_dir(BUILTIN_DIR, builtin=True))
    return _METHODS


def register_method_dirs(folders) -> list[str]:
    """Add the methods of each folder (a config's ``method_dirs``); returns their names. A name another file
    already defines is refused."""
    added = []
    for folder in folders or []:
        for name, method in _load_dir(folder).items():
            have = all_methods().get(name)
            if have is not None and have.file != method.file:
                raise MethodError(f"method {name!r} in {method.file} is already defined by {have.file}; give yours "
                                  "another name")
            _METHODS[name] = method
            added.append(name)
    return added


def get_method(name: str) -> Method:
    methods = all_methods()
    if name not in methods:
        raise MethodError(f"unknown method {name!r}; allowed: {', '.join(sorted(methods))} (a new one is a file in "
                          "a folder the config's method_dirs names; README: Add a method)")
    return methods[name]


def methods_of_kind(kind: str) -> list[str]:
    """The names of every registered method of ``kind`` (align or control), sorted."""
    return sorted(n for n, m in all_methods().items() if m.kind == kind)


def resolve_settings(name: str, task: str | None = None, overrides: dict | None = None) -> dict:
    """Method ``name``'s settings for ``task``: its defaults, its per-task values, then ``overrides`` (a config's
    ``method_settings[name]``); MethodError naming an unknown key or a value of the wrong type."""
    method = get_method(name)
    if overrides:
        _check_keys(method, overrides, f"config method_settings.{name}")
    return {**method.settings, **(method.task_settings.get(task, {}) if task else {}), **(overrides or {})}


def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def method_setting(stage: str, method: str, task: str | None = None, overrides: dict | None = None) -> dict | None:
    """What an align or refine job's settings carry about its ``method`` (for an embedder-epochs variant
    ``<m>-e<k>`` the caller passes ``m``: orca.align.catalog.epoch_variant); None when nothing. Align: the method's
    resolved settings for ``task`` (``overrides``: the config's ``method_settings[m]``) when it has any. Both stages,
    for a method that is not built in: its file (and the settings file beside it) with their sha256, so the job's
    process loads the planned file and an edit reruns the job. Refine reads no method settings (a control's refine
    settings are in its task section)."""
    found = get_method(method)
    out: dict = {}
    settings = resolve_settings(method, task, overrides) if stage == "align" else {}
    if settings:
        out["settings"] = settings
    if not found.builtin:
        out["file"] = found.file
        out["sha256"] = _file_digest(found.file)
        side = Path(found.file).with_suffix(".yaml")
        if side.is_file():
            out["settings_file_sha256"] = _file_digest(str(side))
    return out or None


def register_method_setting(setting: dict | None, where: str = "the job's settings") -> None:
    """Register the user method a job's settings name (:func:`method_setting`) in the job's process, after
    checking its file is the one that was planned."""
    if not setting or "file" not in setting:
        return
    path = Path(setting["file"])
    if not path.is_file():
        raise MethodError(f"{where}: method file {path} is gone; plan again (rerun snakemake) with method_dirs "
                          "naming its folder")
    if _file_digest(str(path)) != setting.get("sha256"):
        raise MethodError(f"{where}: method file {path} changed since the job was planned; plan again (rerun "
                          "snakemake) so the job's hash names the file it runs")
    method = load_method_file(path)
    have = all_methods().get(method.name)
    if have is not None and have.builtin:
        raise MethodError(f"{where}: {path} redefines the built-in method {method.name!r}; give it another name")
    _METHODS[method.name] = method
