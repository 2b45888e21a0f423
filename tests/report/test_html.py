"""Markdown -> HTML page of a table (orca/report/html.py) and the caption facts (orca/report/captions.py)."""
import json

from orca.report.captions import protocol_words, run_commits
from orca.report.html import to_html


def test_tables_become_html_tables_and_markup_is_escaped():
    page = to_html("# t\n\n| a | b |\n|---|---|\n| **1 [0, 2]** | <script>x</script> |\n", "t<1>")
    assert "<table>" in page and "<strong>1 [0, 2]</strong>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page and "<title>t&lt;1&gt;</title>" in page


def test_run_commits_and_protocol(tmp_path):
    for i, (commit, dirty) in enumerate([("bbb", False), ("aaa", True), ("bbb", False)]):
        (tmp_path / f"{i}.json").write_text(json.dumps({"provenance": {"git_commit": commit, "git_dirty": dirty}}))
    files = sorted(tmp_path.glob("*.json"))
    assert run_commits(files) == "aaa+dirty, bbb"
    assert run_commits(files + [tmp_path / "missing.json"]) == "runs not finished yet"
    cfg = {"tables": {"t": {"score": "test_last_epoch", "protocols": ["original"]}},
           "overrides": {"refine": {"epochs": 2}}}
    words = protocol_words(cfg, "t")
    assert words.startswith("protocol original; score test_last_epoch") and '"epochs": 2' in words
    both = protocol_words({"protocols": ["original", "clean"], "tables": {"t": {}}}, "t")
    assert both.startswith("protocol original, clean; score each protocol's own") and "overrides" not in both
