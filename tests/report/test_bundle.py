"""orca bundle / orca verify: a built table packed with its records, settings and checksums, then rebuilt and compared."""
import argparse
import hashlib
import inspect
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from orca.plan.config import planning_config
from orca.plan.grid import Grid
from orca.report import build_report, bundle
from orca.report.bundle_cli import add_bundle_parsers, run_bundle, run_verify

from .fabricate import tiny_config, write_runs

TABLE = "tiny"
GONE = "results/runs/wine/minilm-l6/l2/clean/seed2.json"  # a cell that "failed": the table is partial
PUBLISHED = """table,task,method,metric,value,higher_is_better,source,notes
NB360_main,ECG,ORCA,1-F1 score,0.28,no,test,
"""
CODE = {"git_commit": "feedc0de" * 5, "git_dirty": False}


def orca(*argv: str) -> int:
    """`orca bundle|verify ...` through the sub-commands' own parsers (as orca/cli.py wires them)."""
    parser = argparse.ArgumentParser(prog="orca")
    add_bundle_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return {"bundle": run_bundle, "verify": run_verify}[args.command](args)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A work folder where table ``tiny`` was built from its runs as the workflow builds a partial table: every
    record but GONE, the published CSV of the config, the missing cells passed on (where build_report takes them)."""
    work = tmp_path_factory.mktemp("work")
    config_path = tiny_config(work)
    config = yaml.safe_load(config_path.read_text())
    config["published_csv"] = "published.csv"
    config_path.write_text(yaml.safe_dump(config))
    (work / "published.csv").write_text(PUBLISHED)
    runs = write_runs(work, config_path)
    (work / GONE).unlink()
    with bundle._chdir(work):
        present = [str(p.relative_to(work)) for p in runs if p.exists()]
        grid = Grid(planning_config(bundle.load_config([config_path.name])))
        extra = {}
        if "missing" in inspect.signature(build_report).parameters:
            extra["missing"] = bundle._missing_cells(grid, TABLE, "results", "logs")
        build_report(present, TABLE, Path("results"), Path("reports"), Path("published.csv"), **extra)
    return work


@pytest.fixture
def work(built, monkeypatch):
    monkeypatch.chdir(built)
    monkeypatch.setattr(bundle, "git_state", lambda: dict(CODE))  # other edits to the checkout: not this test's
    return built


@pytest.fixture
def archive(work, tmp_path):
    assert orca("bundle", TABLE, "--configfile", "config.yaml", "--out", str(tmp_path / "b.tar.gz")) == 0
    return tmp_path / "b.tar.gz"


def _rewrite(src: Path, dst: Path, change: dict[str, bytes], manifest_too: bool = False) -> Path:
    """``src`` with members replaced by ``change``; with ``manifest_too`` their manifest entries follow."""
    manifest, members = bundle.read_bundle(src)
    members.update(change)
    if manifest_too:
        for name, data in change.items():
            manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        members[bundle.MANIFEST] = bundle._json_bytes(manifest)
    dst.write_bytes(bundle._tar_gz(members))
    return dst


def test_bundle_holds_the_table_and_verifies_identical(work, tmp_path, capsys):
    assert orca("bundle", TABLE, "--configfile", "config.yaml") == 0
    out = capsys.readouterr().out
    written = sorted((work / "bundles").glob("tiny-*.tar.gz"))
    assert len(written) == 1 and f"wrote bundles/{written[0].name}" in out and "1 missing" in out
    first = written[0].read_bytes()
    # bundling again gives the same bytes (and the same name: the manifest's hash)
    assert orca("bundle", TABLE, "--configfile", "config.yaml", "--out", str(tmp_path / "again.tar.gz")) == 0
    assert (tmp_path / "again.tar.gz").read_bytes() == first
    manifest, members = bundle.read_bundle(written[0])
    assert written[0].name == f"tiny-{hashlib.sha256(members['MANIFEST.json']).hexdigest()[:12]}.tar.gz"
    with tarfile.open(written[0]) as tar:
        infos = tar.getmembers()
    names = [i.name for i in infos]
    assert names[0] == "MANIFEST.json" and names[1:] == sorted(names[1:])
    assert {(i.mtime, i.uid, i.gid, i.mode) for i in infos} == {(bundle.MTIME, 0, 0, 0o644)}
    assert first[4:8] == b"\0\0\0\0"  # gzip mtime 0

    # what is in it
    table_files = manifest["table_files"]
    assert {"results/tiny.csv", "reports/tiny.md", "reports/tiny.png", "reports/tiny.pdf"} <= set(table_files.values())
    assert all((work / name).read_bytes() == members[name] for name in table_files.values())
    runs = [r["file"] for r in manifest["report"]["run_files"]]
    assert len(runs) == 23 and GONE not in runs and all(members[r] == (work / r).read_bytes() for r in runs)
    assert manifest["runs"] == {"planned": 24, "bundled": 23, "missing": [GONE]}
    assert members["published.csv"] == PUBLISHED.encode() and manifest["report"]["published_csv"]["path"] == "published.csv"
    doc = json.loads(members["bundle/report-job.json"])
    assert doc["settings"]["report"]["published"] == "published.csv" and doc["job"] == {"table": TABLE}
    assert doc["settings_hash"] == manifest["settings_hash"]
    if "missing" in inspect.signature(build_report).parameters:  # a partial table: its missing cells travel along
        assert manifest["report"]["missing"] == "bundle/missing.json"
        assert [c["run_file"] for c in json.loads(members["bundle/missing.json"])["missing"]] == [GONE]
    env = members["bundle/environment.txt"].decode()
    assert "\npython==3." in env and "\npandas==" in env and "\nmatplotlib==" in env
    sums = json.loads(members["bundle/data_checksums.json"])["tasks"]
    assert sums["wine"]["records"] == 11 and sums["iris"]["records"] == 12
    assert manifest["code"]["git_commit"] == CODE["git_commit"]
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": hashlib.sha256(members[name]).hexdigest(), "size": len(members[name])}
    assert set(manifest["files"]) == set(members) - {"MANIFEST.json"}

    # verify: every checksum, then the table rebuilt from the bundled records alone
    capsys.readouterr()
    assert orca("verify", str(written[0])) == 0
    out = capsys.readouterr().out
    for name in table_files.values():
        assert f"identical  {name}" in out
    assert "different" not in out and "verify: OK" in out


@pytest.mark.parametrize("member", ["results/runs/iris/minilm-l6/otdd-exact/clean/seed1.json", "reports/tiny.md"])
def test_a_tampered_file_fails_verify_and_is_named(archive, tmp_path, capsys, member):
    _, members = bundle.read_bundle(archive)
    bad = _rewrite(archive, tmp_path / "bad.tar.gz", {member: members[member].replace(b"0", b"1", 1)})
    assert orca("verify", str(bad)) == 1
    out = capsys.readouterr()
    assert f"changed    {member}: sha256" in out.out and "FAILED" in out.err
    assert "identical" not in out.out  # checksums first: nothing rebuilt from a changed bundle


def test_an_added_file_or_an_edited_manifest_fails_verify(archive, tmp_path, capsys):
    assert orca("verify", str(_rewrite(archive, tmp_path / "extra.tar.gz", {"results/extra.json": b"{}"}))) == 1
    assert "changed    results/extra.json: not in the manifest" in capsys.readouterr().out
    # a manifest edited to match a changed file: the bundle's name (the manifest's hash) no longer fits
    named = tmp_path / f"tiny-{'0' * 12}.tar.gz"
    named.write_bytes(archive.read_bytes())
    assert orca("verify", str(named)) == 1
    assert "changed    MANIFEST.json" in capsys.readouterr().out


def test_a_table_file_its_records_do_not_build_is_different(archive, tmp_path, capsys):
    """Table file and manifest changed together (checksums agree): the rebuild finds it."""
    _, members = bundle.read_bundle(archive)
    bad = _rewrite(archive, tmp_path / "edited.tar.gz",
                   {"reports/tiny.md": members["reports/tiny.md"] + b"\nbetter numbers\n"}, manifest_too=True)
    assert orca("verify", str(bad)) == 1
    out = capsys.readouterr()
    assert "checksums: all" in out.out and "different  reports/tiny.md" in out.out
    assert "identical  results/tiny.csv" in out.out and "1 of" in out.err


def test_bad_inputs_exit_2_and_leave_nothing(work, tmp_path, capsys):
    out = tmp_path / "out" / "b.tar.gz"
    assert orca("bundle", "nosuch", "--configfile", "config.yaml", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "no table 'nosuch'" in err and "tiny" in err and "--configfile" in err
    assert orca("bundle", TABLE, "--configfile", "missing.yaml", "--out", str(out)) == 2
    assert "missing.yaml: cannot read it" in capsys.readouterr().err
    assert not out.parent.exists() or not any(out.parent.iterdir())

    # a table not built yet names the command that builds it
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    write_runs(fresh, tiny_config(fresh))
    with bundle._chdir(fresh):
        assert orca("bundle", TABLE, "--configfile", "config.yaml") == 2
    err = capsys.readouterr().err
    assert "table 'tiny' is not built yet" in err and "snakemake --configfile config.yaml -c1 table_tiny" in err
    assert not (fresh / "bundles").exists()
    (fresh / "reports").mkdir()
    (fresh / "reports" / "tiny.md").write_text("half a table")
    with bundle._chdir(fresh):
        assert orca("bundle", TABLE, "--configfile", "config.yaml", "--out", "b/t.tar.gz") == 2
    assert "is incomplete" in capsys.readouterr().err and not (fresh / "b").exists()

    # unreadable bundles
    assert orca("verify", str(tmp_path / "nope.tar.gz")) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    assert orca("verify", str(tmp_path / "junk.tar.gz")) == 2
    assert "cannot read it as a .tar.gz" in capsys.readouterr().err
    (tmp_path / "empty.tar.gz").write_bytes(bundle._tar_gz({"a.txt": b"x"}))
    assert orca("verify", str(tmp_path / "empty.tar.gz")) == 2
    assert "has no MANIFEST.json" in capsys.readouterr().err


def test_archive_names():
    assert bundle.arcname("results/runs/a/seed0.json") == "results/runs/a/seed0.json"
    assert bundle.arcname("/data/x/published.csv") == "_external/data/x/published.csv"
    assert bundle.arcname("results/../x.json").startswith("_external/")
    assert not bundle._safe_member("../evil") and not bundle._safe_member("/etc/passwd")
