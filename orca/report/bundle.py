"""A publishable results bundle of one table, and its check.

``orca bundle TABLE [--configfile F ...] [--out PATH]`` (:func:`make_bundle`) plans the table's report job
from the workflow's config (``config/config.yaml``, then each ``--configfile`` merged over it as Snakemake
merges them, then the schema's defaults) and packs, into one ``.tar.gz``:

- the table files (``report_targets``: ``results/NAME*.csv``, ``reports/NAME.*``);
- every run record the table uses that exists (``Grid.table_runs``; the paths the report rule passes, kept as
  they are), the ones that do not exist listed in the manifest;
- ``bundle/report-job.json``, the report job's resolved settings document (orca.spec.jobs), and the file it
  reads: the published CSV, when the config names one, at its own relative path;
- for a partial table (runs missing), ``bundle/missing.json``: its missing cells as ``orca.plan.failures`` finds
  them now (what the workflow's onerror handler passes to ``orca report --missing``);
- ``bundle/config.json`` (the merged config), ``bundle/environment.txt`` (Python and every installed
  distribution, ``name==version``), ``bundle/data_checksums.json`` (the records' ``data_sha256`` per task) and
  the prepare / stand-in stamps of the table's tasks found in the cache (``bundle/prepared/``, ``bundle/standins/``);
- ``MANIFEST.json``: sha256 and size of every other member, the report call (run files, folders, published CSV)
  and the code version (git commit) that made the bundle.

The archive is deterministic: members sorted (``MANIFEST.json`` first), fixed mtime, uid/gid 0, mode 0644, gzip
mtime 0, so bundling the same files twice gives the same bytes. Its default name is
``bundles/<table>-<12 hex digits of MANIFEST.json's sha256>.tar.gz`` (``<table>-rehearsal-...`` for a rehearsal).

``orca verify BUNDLE`` (:func:`verify_bundle`) checks every member against the manifest (a changed, missing or
unlisted file fails, named), then rebuilds the table from the bundled records alone (``build_report`` in a
temporary folder, with the bundled settings document's options and published CSV) and compares it byte for
byte with the bundled table files.

Bad input (a table the config lacks, a table not built yet, an unreadable bundle) raises :class:`BundleError`
naming the cause and the fix; nothing is left behind (the archive is written to a temporary file and moved
into place).
"""
from __future__ import annotations

import contextlib
import copy
import gzip
import hashlib
import inspect
import io
import json
import os
import re
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

from ..runtime.process import atomic_output, git_state

__all__ = ["BundleError", "FORMAT", "VerifyResult", "environment_lock", "load_config",
           "make_bundle", "read_bundle", "verify_bundle"]

FORMAT = "orca-bundle/1"
MANIFEST = "MANIFEST.json"
META = "bundle"  # folder of the bundle's own files (settings document, environment, checksums, config)
SETTINGS = f"{META}/report-job.json"
MISSING = f"{META}/missing.json"  # a partial table's missing cells (orca.plan.failures.missing_cells)
MTIME = 315532800  # 1980-01-01T00:00:00Z: every member's mtime (a fixed value: same files -> same bytes)
EXTERNAL = "_external"  # where a file given by an absolute or upward path lies in the archive


class BundleError(ValueError):
    """Bad input to ``orca bundle`` / ``orca verify``; the message names the cause and the fix (exit status 2)."""


# ----------------------------------------------------------------------------- config
def load_config(configfiles: list[str | Path] | None = None, default: str | Path | None = None) -> dict:
    """orca.plan.config.load_config, its errors as BundleError (exit status 2)."""
    from ..plan.config import ConfigFileError
    from ..plan.config import load_config as load

    try:
        return load(configfiles, default)
    except ConfigFileError as err:
        raise BundleError(str(err)) from None


def _build_command(table: str, configfiles: list) -> str:
    opts = "".join(f" --configfile {f}" for f in configfiles or [])
    return f"snakemake{opts} -c1 table_{table}"


# ----------------------------------------------------------------------------- paths in the archive
def arcname(path: str | Path) -> str:
    """Where a file the report job was given as ``path`` lies in the archive: the path itself when it is a plain
    relative one (the workflow's paths are), else under ``_external/``."""
    text = str(path)
    parts = PurePosixPath(text.replace(os.sep, "/")).parts
    if text and not os.path.isabs(text) and parts and all(p not in ("", ".", "..") for p in parts) \
            and "/".join(parts) == text.replace(os.sep, "/"):
        return "/".join(parts)
    resolved = Path(text).resolve()
    return f"{EXTERNAL}/" + "/".join(p for p in resolved.parts if p not in ("/", resolved.anchor))


def _safe_member(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and all(p not in ("", ".", "..") for p in parts) \
        and "\\" not in name


# ----------------------------------------------------------------------------- environment
def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_lock() -> str:
    """The environment as text: ``python==X.Y.Z`` and one ``name==version`` per installed distribution, sorted."""
    dists = set()
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata is not None else None
        if name:
            dists.add((_canonical(name), dist.version))
    lines = [f"# the environment that made this bundle: {sys.implementation.name} {sys.version.split()[0]}, "
             f"{len(dists)} distributions", f"python=={sys.version.split()[0]}"]
    lines += [f"{n}=={v}" for n, v in sorted(dists)]
    return "\n".join(lines) + "\n"


def _parse_lock(text: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "==" in line:
            name, version = line.split("==", 1)
            out.setdefault(name, set()).add(version)
    return out


def environment_differences(bundled: str, current: str | None = None) -> list[str]:
    """``name: bundled -> current`` for every distribution (and Python) whose version differs."""
    old, new = _parse_lock(bundled), _parse_lock(current if current is not None else environment_lock())
    diffs = []
    for name in sorted(set(old) | set(new)):
        a, b = ",".join(sorted(old.get(name, ()))) or "absent", ",".join(sorted(new.get(name, ()))) or "absent"
        if a != b:
            diffs.append(f"{name}: {a} -> {b}")
    return diffs


# ----------------------------------------------------------------------------- making a bundle
def _report_code() -> str | None:
    """The hash of the report stage's source (orca.spec.code_version): which code built (and rebuilds) the table."""
    try:
        from ..spec.code_version import stage_code_hash

        return stage_code_hash("report")
    except (ImportError, OSError, SyntaxError, KeyError):
        return None


def _missing_cells(grid, table: str, results: str, logs: str) -> dict | None:
    """The table's missing cells (``orca.plan.failures.missing_cells``, what the workflow's onerror handler passes
    to ``orca report --missing``); None where this orca has no such module."""
    try:
        from ..plan.failures import missing_cells
    except ImportError:
        return None
    return missing_cells(grid, table, results, logs)



def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise BundleError(f"{what} {path}: cannot read it ({err.strerror or err})") from None


def _data_checksums(records: dict[str, bytes]) -> dict:
    """``data_sha256`` of the records per task: {task: {"data_sha256": [...], "records": n, "without": n}}."""
    tasks: dict[str, dict] = {}
    for _name, data in sorted(records.items()):
        try:
            rec = json.loads(data)
        except ValueError:
            rec = {}
        task = str(rec.get("task", "?"))
        entry = tasks.setdefault(task, {"data_sha256": set(), "records": 0, "without_checksum": 0})
        entry["records"] += 1
        if rec.get("data_sha256"):
            entry["data_sha256"].add(str(rec["data_sha256"]))
        else:
            entry["without_checksum"] += 1
    return {t: {**e, "data_sha256": sorted(e["data_sha256"])} for t, e in sorted(tasks.items())}


def _cache_stamps(config: dict, tasks: list[str]) -> dict[str, bytes]:
    """The prepare and stand-in records (``<cache_dir>/prepared|standins/<task>.json``) of ``tasks`` found."""
    out = {}
    cache = Path(config.get("cache_dir") or ".cache/orca")
    for kind in ("prepared", "standins"):
        for task in tasks:
            p = cache / kind / f"{task}.json"
            if p.is_file():
                out[f"{META}/{kind}/{task}.json"] = _read(p, f"{kind} record")
    return out


def _tar_gz(members: dict[str, bytes]) -> bytes:
    """The deterministic archive of ``members`` (name -> bytes): MANIFEST.json first, then sorted by name."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members, key=lambda n: (n != MANIFEST, n)):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(members[name]), MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(members[name]))
    return raw.getvalue()


@dataclass
class Bundle:
    """What :func:`make_bundle` wrote."""
    path: Path
    bundle_id: str  # the first 12 hex digits of MANIFEST.json's sha256
    manifest: dict
    warnings: list[str] = field(default_factory=list)


def make_bundle(table: str, configfiles: list[str | Path] | None = None, out: str | Path | None = None,
                default_config: str | Path | None = None) -> Bundle:
    """Bundle the built table ``table`` of the config (see the module docstring); paths are the current folder's,
    as the workflow's are (run it where ``snakemake`` ran). BundleError for a table the config lacks or one that is
    not built yet."""
    from ..plan.grid import Grid
    from . import report_targets

    configfiles = [str(f) for f in configfiles or []]
    config = load_config(configfiles, default_config)
    tables = config.get("tables") or {}
    if table not in tables:
        given = ", ".join(configfiles) or "the default config"
        raise BundleError(f"no table {table!r} in the config ({given}); tables: {', '.join(sorted(tables))}; give "
                          "the --configfile that defines it (e.g. --configfile config/paper.yaml)")
    from ..plan.config import planning_config

    grid = Grid(planning_config(config))
    job = grid.job("report", table=table)
    results, reports = str(config["results_dir"]), str(config["reports_dir"])
    targets = report_targets(table, Path(results), Path(reports), bool(tables[table].get("summary")))
    command = _build_command(table, configfiles)
    absent = [str(p) for p in targets.values() if not p.is_file()]
    if absent:
        state = "not built yet" if len(absent) == len(targets) else f"incomplete (no {', '.join(absent)})"
        raise BundleError(f"table {table!r} is {state} under {results}/ and {reports}/ (looked from {Path.cwd()}); "
                          f"build it first: {command}")

    members: dict[str, bytes] = {}
    table_files = {}
    for kind, p in sorted(targets.items()):
        table_files[kind] = arcname(p)
        members[table_files[kind]] = _read(p, "table file")

    planned = grid.table_runs(table, results)
    used = [r for r in planned if Path(r).is_file()]
    have = set(used)
    missing = [r for r in planned if r not in have]
    if not used:
        raise BundleError(f"table {table!r}: none of its {len(planned)} run records exists (e.g. {planned[0]}); run "
                          f"`orca bundle` in the folder the table was built in, or build it: {command}")
    records = {}
    for r in used:
        records[arcname(r)] = _read(Path(r), "run record")
    members.update(records)

    opts = job.get("report") or {}
    published = opts.get("published")
    if published:
        if not Path(published).is_file():
            raise BundleError(f"published_csv {published}: not found (the report job reads it); run `orca bundle` "
                              "where the table was built, or fix published_csv in the config")
        members[arcname(published)] = _read(Path(published), "published CSV")

    missing_doc = None
    if missing:  # a partial table (workflow onerror): the missing cells its report call was given, as they are now
        missing_doc = _missing_cells(grid, table, results, str(config.get("logs_dir") or "logs"))
        if missing_doc is not None:
            members[MISSING] = _json_bytes(missing_doc)

    warnings = []
    if missing and missing_doc is None:
        warnings.append("this orca cannot list a partial table's missing cells (orca.plan.failures); `orca verify` "
                        "rebuilds the table without them")
    newest = max(Path(r).stat().st_mtime for r in used)
    oldest_table = min(p.stat().st_mtime for p in targets.values())
    if newest > oldest_table:
        newer = sum(Path(r).stat().st_mtime > oldest_table for r in used)
        warnings.append(f"{newer} run record(s) are newer than the table: rebuild it ({command}) or "
                        "`orca verify` will find the bundled table differs from its records")

    tasks = list(dict.fromkeys(tables[table]["tasks"]))
    members[SETTINGS] = _json_bytes(job.to_json())
    members[f"{META}/config.json"] = _json_bytes(config)
    members[f"{META}/environment.txt"] = environment_lock().encode("utf-8")
    stamps = _cache_stamps(config, tasks)
    members.update(stamps)
    members[f"{META}/data_checksums.json"] = _json_bytes(
        {"tasks": _data_checksums(records), "stamps": sorted(stamps),
         "note": "data_sha256 of each task's split data as the run records name it; stamps: the prepare / "
                 "stand-in records of the table's tasks found in the cache (sha256 of raw and prepared files)"})

    manifest = {
        "format": FORMAT, "table": table, "mode": job.mode, "settings_hash": job.settings_hash,
        "title": tables[table].get("title", table), "configfiles": configfiles,
        "code": {**git_state(), "report_code": _report_code()},
        "report": {"settings": SETTINGS, "results_dir": results, "reports_dir": reports,
                   "run_files": [{"path": r, "file": arcname(r)} for r in used],
                   "published_csv": ({"path": published, "file": arcname(published)} if published else None),
                   "missing": MISSING if missing_doc is not None else None},
        "table_files": table_files,
        "runs": {"planned": len(planned), "bundled": len(used), "missing": missing},
        "environment": f"{META}/environment.txt",
        "files": {name: {"sha256": _sha256(data), "size": len(data)} for name, data in sorted(members.items())},
    }
    manifest_bytes = _json_bytes(manifest)
    bundle_id = _sha256(manifest_bytes)[:12]
    members[MANIFEST] = manifest_bytes
    data = _tar_gz(members)
    kind = "-rehearsal" if job.rehearsal else ""
    path = Path(out) if out is not None else Path("bundles") / f"{table}{kind}-{bundle_id}.tar.gz"
    if path.is_dir():
        raise BundleError(f"--out {path}: is a folder; give the archive's file name (e.g. {path}/{table}.tar.gz)")
    try:
        with atomic_output(path) as tmp:
            tmp.write_bytes(data)
            os.chmod(tmp, 0o644)
    except OSError as err:
        raise BundleError(f"--out {path}: cannot write it ({err.strerror or err}); choose a writable path") from None
    return Bundle(path, bundle_id, manifest, warnings)


# ----------------------------------------------------------------------------- reading and verifying
def read_bundle(path: str | Path) -> tuple[dict, dict[str, bytes]]:
    """(manifest, {member name: bytes}) of a bundle; BundleError when it cannot be read as one."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"bundle {path}: no such file; give the .tar.gz `orca bundle` wrote (bundles/...)")
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for info in tar:
                if not info.isfile():
                    raise BundleError(f"bundle {path}: member {info.name!r} is not a plain file; not a bundle "
                                      "`orca bundle` wrote")
                if not _safe_member(info.name) or info.name in members:
                    raise BundleError(f"bundle {path}: unsafe or repeated member name {info.name!r}; not a bundle "
                                      "`orca bundle` wrote")
                members[info.name] = tar.extractfile(info).read()
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as err:
        raise BundleError(f"bundle {path}: cannot read it as a .tar.gz ({err}); give the archive `orca bundle` "
                          "wrote, or bundle the table again") from None
    if MANIFEST not in members:
        raise BundleError(f"bundle {path}: has no {MANIFEST}; not a bundle `orca bundle` wrote")
    try:
        manifest = json.loads(members[MANIFEST])
    except ValueError as err:
        raise BundleError(f"bundle {path}: {MANIFEST} is not JSON ({err}); bundle the table again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"),
                                                                                         dict):
        raise BundleError(f"bundle {path}: {MANIFEST} is not an {FORMAT} manifest; bundle the table again with "
                          "this version of orca")
    return manifest, members


@contextlib.contextmanager
def _chdir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@dataclass
class VerifyResult:
    """What :func:`verify_bundle` found; ``ok`` only when every checksum matches and every table file is identical."""
    manifest: dict
    bad_files: list[tuple[str, str]] = field(default_factory=list)  # (member, what is wrong)
    compared: list[tuple[str, bool]] = field(default_factory=list)  # (table file, identical)
    rebuild_error: str | None = None
    environment: list[str] = field(default_factory=list)  # versions differing from the bundle's lock
    report_code: tuple[str | None, str | None] = (None, None)  # (bundled, current) hash of the report stage's code

    @property
    def code_changed(self) -> bool:
        """The report code differs from the code that made the bundle (both known)."""
        bundled, current = self.report_code
        return bundled is not None and current is not None and bundled != current

    @property
    def ok(self) -> bool:
        return not self.bad_files and self.rebuild_error is None and bool(self.compared) \
            and all(same for _, same in self.compared)


def check_members(manifest: dict, members: dict[str, bytes], bundle_name: str | None = None) -> list[tuple[str, str]]:
    """Every member against the manifest: (name, problem) for a changed, missing or unlisted file."""
    bad = []
    listed = manifest["files"]
    for name, entry in sorted(listed.items()):
        if name not in members:
            bad.append((name, "missing from the archive"))
        elif _sha256(members[name]) != entry.get("sha256") or len(members[name]) != entry.get("size"):
            bad.append((name, f"sha256 {_sha256(members[name])[:12]}... differs from the manifest's "
                              f"{str(entry.get('sha256'))[:12]}... (changed since it was bundled)"))
    for name in sorted(set(members) - set(listed) - {MANIFEST}):
        bad.append((name, "not in the manifest (added since it was bundled)"))
    m = re.search(r"-([0-9a-f]{12})\.tar\.gz$", bundle_name or "")
    if m and m.group(1) != _sha256(members[MANIFEST])[:12]:
        bad.append((MANIFEST, f"its sha256 starts {_sha256(members[MANIFEST])[:12]}, not {m.group(1)} as the "
                              "bundle's name says (the manifest was changed)"))
    return bad


def rebuild_table(manifest: dict, members: dict[str, bytes], workdir: Path) -> dict[str, bytes]:
    """The table rebuilt in ``workdir`` from the bundled records, settings document and published CSV alone:
    {table file's member name: rebuilt bytes}."""
    from ..spec.jobs import JobSettings
    from . import build_report

    report = manifest["report"]
    doc = json.loads(members[report["settings"]])
    job = JobSettings.from_json(doc, "report", manifest.get("settings_hash"), where=report["settings"])
    if job.job.get("table") != manifest["table"]:
        raise ValueError(f"{report['settings']}: a report of table {job.job.get('table')!r}, not "
                         f"{manifest['table']!r}")
    opts = job.get("report") or {}
    needed = [r["file"] for r in report["run_files"]]
    pub = report.get("published_csv")
    if opts.get("published") and not pub:
        raise ValueError(f"the settings name a published CSV ({opts['published']}) the bundle does not hold")
    if pub:
        needed.append(pub["file"])
    for name in needed:
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(members[name])
    table_files = manifest["table_files"]
    extra = {}
    if report.get("missing"):  # a partial table: rebuilt with the missing cells it was built with
        extra["missing"] = json.loads(members[report["missing"]])
        if "missing" not in inspect.signature(build_report).parameters:
            raise ValueError("the bundle holds a partial table (bundle/missing.json) and this orca's build_report "
                             "cannot list missing cells; verify with the orca that made the bundle")
    with _chdir(workdir):
        written = build_report(needed[:len(report["run_files"])], job.job["table"], Path(report["results_dir"]),
                               Path(report["reports_dir"]), Path(pub["file"]) if pub else None,
                               score=opts.get("score", "selected"), summary=opts.get("summary"),
                               reference=opts.get("reference", "none"), rehearsal=job.rehearsal,
                               **({"questions": opts["questions"]} if opts.get("questions") else {}), **extra)
        by_kind = {k: Path(p) for k, p in written.items()}
        out = {}
        for kind, name in table_files.items():
            p = by_kind.get(kind)
            out[name] = p.read_bytes() if p is not None and p.is_file() else None
        for kind in sorted(set(by_kind) - set(table_files)):  # written now, not bundled: cannot be identical
            out[arcname(by_kind[kind])] = by_kind[kind].read_bytes()
    return out


def verify_bundle(path: str | Path) -> VerifyResult:
    """Check a bundle's members against its manifest, then rebuild its table and compare (module docstring).
    BundleError when ``path`` is not a readable bundle."""
    manifest, members = read_bundle(path)
    result = VerifyResult(manifest)
    result.bad_files = check_members(manifest, members, Path(path).name)
    env = manifest.get("environment")
    if env in members:
        result.environment = environment_differences(members[env].decode("utf-8", "replace"))
    result.report_code = ((manifest.get("code") or {}).get("report_code"), _report_code())
    if result.bad_files:
        return result
    with tempfile.TemporaryDirectory(prefix="orca-verify-") as tmp:
        try:
            rebuilt = rebuild_table(copy.deepcopy(manifest), members, Path(tmp))
        except (ValueError, OSError, KeyError, TypeError) as err:
            result.rebuild_error = f"{type(err).__name__}: {err}"
            return result
    for name, data in sorted(rebuilt.items()):
        result.compared.append((name, data is not None and name in members and members[name] == data))
    return result
