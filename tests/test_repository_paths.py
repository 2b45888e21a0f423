"""Everything a run needs lives in the repository: no config, task file, rule, script or code path points
outside it, and the paper's numbers are project data (benchmarks/published/)."""
import re
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = re.compile(r"shared/paper|\.\./shared|parent\s*/\s*[\"']shared[\"']")  # the shared folder laid beside a developer's checkout
MACHINE = re.compile(r"(?<![\w:/.])/(?:work|home|root|Users|mnt)/")  # a path on one person's machine
PARENT = re.compile(r"(?:\.\./)+(?:\.\.(?![\w.])|[\w.-]+)?")  # ../x, ../../x, ../..
TEXT_SUFFIXES = {".py", ".smk", ".yaml", ".yml", ".toml", ".sh", ".md", ".cfg", ".txt", ""}


def _tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        path = REPO / name
        if path.is_file() and path.suffix in TEXT_SUFFIXES and name != "tests/test_repository_paths.py":
            yield name, path


def outside_references(name: str, text: str) -> list[str]:
    """Lines of file ``name`` (repository-relative) that point outside the repository. Test files may use
    made-up absolute paths as data; a relative ``../`` is resolved against the file's own folder."""
    found = []
    folder = (REPO / name).parent
    for lineno, line in enumerate(text.splitlines(), 1):
        bad = SHARED.search(line) or (not name.startswith("tests/") and MACHINE.search(line))
        for token in PARENT.findall(line):
            if not (folder / token).resolve().is_relative_to(REPO):
                bad = True
        if bad:
            found.append(f"{name}:{lineno}: {line.strip()}")
    return found


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_no_tracked_file_points_outside_the_repository():
    offenders = [hit for name, path in _tracked_text_files()
                 for hit in outside_references(name, path.read_text(errors="replace"))]
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_outside_references_catches_what_it_should():
    for line in ["published_csv: ../shared/paper/published.csv", "p = REPO.parent / 'shared' / 'x'",
                 "open('/work/x.csv')", "cd ../../ORCA", "x = '../..'"]:
        assert outside_references("config/a.yaml", line), line
    for line in ["https://example.org/a/b.csv", "benchmarks/published/published.csv", "../schemas/x.yaml",
                 "from ..runtime import x", "cd $(dirname $0)/../.."]:
        assert not outside_references("workflow/rules/a.smk", line), line
    assert not outside_references("tests/test_x.py", "rows = ['/home/someone/a.wav']")  # test data


def test_config_paths_resolve_inside_the_repository():
    for config_path in sorted((REPO / "config").glob("*.yaml")):
        config = yaml.safe_load(config_path.read_text())
        paths = list(config.get("benchmarks", [])) + [config.get(k) for k in
                                                      ("published_csv", "cache_dir", "data_dir", "results_dir",
                                                       "reports_dir")]
        paths += [p for arrays in (config.get("source_arrays") or {}).values() for p in arrays]
        for value in filter(None, paths):
            assert not Path(value).is_absolute(), f"{config_path.name}: {value} is absolute"
            resolved = (REPO / value).resolve()
            assert resolved.is_relative_to(REPO), f"{config_path.name}: {value} leaves the repository"
        if config.get("published_csv"):
            assert (REPO / config["published_csv"]).is_file(), f"{config_path.name}: {config['published_csv']} missing"


def test_task_files_name_no_path_outside_the_repository():
    for path in sorted((REPO / "benchmarks").rglob("*.yaml")):
        for value in _strings(yaml.safe_load(path.read_text())):
            if "://" in value:
                continue  # a download address
            assert not outside_references(str(path.relative_to(REPO)), value), \
                f"{path.relative_to(REPO)}: {value!r} points outside the repository"


def test_paper_config_reads_the_published_numbers_from_the_repository():
    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    published = REPO / config["published_csv"]
    header = published.read_text().splitlines()[0]
    assert header == "table,task,method,metric,value,higher_is_better,source,notes"
