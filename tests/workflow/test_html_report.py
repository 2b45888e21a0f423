"""`snakemake --report` on fabricated runs, opened in a real headless Chromium.

The runs are fabricated JSON files at the paths the workflow expects (no training); only the table rule
is allowed to run (`--allowed-rules`), so the run files count as inputs. The browser check drives the
report like a reader: open it, click Results > the table's category > its table, and read the table
out of the rendered frame; it fails on any console error or uncaught exception.
"""
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.report.browser import Browser, find_chromium
from tests.report.fabricate import tiny_config, write_runs

REPO = Path(__file__).resolve().parents[2]
CLICK = """(() => {{ const el = [...document.querySelectorAll('a')].find(a => a.innerText.trim() === {text!r});
  if (!el) return false; el.click(); return true; }})()"""


def chromium_or_skip() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium is not installed: .ci/run installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); CI runs this test")
    return path


def snakemake(workdir: Path, config: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(config), "--cores", "1", "--allowed-rules", "table_tiny", *args,
           "--", "table_tiny"]  # the table alone: its runs are fabricated, so no job has a resource measurement
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    config = tiny_config(tmp)
    write_runs(tmp, config, commit="0123abcd")
    snakemake(tmp, config)
    snakemake(tmp, config, "--report", "reports/report.html")
    return tmp / "reports" / "report.html"


def test_report_has_every_table_output(report_html):
    html = report_html.read_text()
    for name in ("tiny.html", "tiny.png", "tiny_profile.png", "tiny_ranks.csv", "tiny.csv"):
        assert name in html, name


def _not_blank(png: bytes) -> bool:
    from matplotlib.image import imread

    img = imread(io.BytesIO(png), format="png")
    return img.shape[0] > 100 and img.shape[1] > 100 and float(np.std(img[..., :3])) > 0.01


def test_report_renders_in_chromium(report_html):
    with Browser(chromium_or_skip()) as b:
        b.open_page()
        b.navigate(report_html.as_uri())
        b.wait_for("document.body && document.body.innerText.includes('Results')")
        assert "95% t intervals" in b.evaluate("document.body.innerText")  # the workflow description
        for text in ("Results", "1. table"):
            assert b.evaluate(CLICK.format(text=text)), f"no link {text!r} in the report"
            b.wait_for(f"document.body.innerText.includes('reports/tiny.html') || {text!r} === 'Results'")
        b.evaluate("document.querySelector('a[iconname=eye]').click() || true")
        b.wait_for("document.querySelector('iframe') !== null")
        b.wait_for("(() => { try { return document.querySelector('iframe').contentWindow !== null } "
                   "catch (e) { return false } })()")
        table = ""
        for _ in range(50):
            try:
                table = b.frame_text("data:")
            except (StopIteration, RuntimeError):
                table = ""
            if "Across tasks" in table:
                break
            b.evaluate("new Promise(r => setTimeout(r, 200))")
        assert "Ours (mean [95% t CI])" in table and "Δ vs none [95% t CI]" in table
        assert "otdd-exact" in table and "W/T/L vs xgboost" in table
        shot = b.screenshot()
        assert _not_blank(shot)
        b.evaluate("document.querySelector('a[iconname=information-circle]').click() || true")
        caption = b.wait_for("document.body.innerText.includes('Commit(s) of the runs') && document.body.innerText")
        assert "0123abcd" in caption and "Seeds: 0, 1, 2" in caption and "Evaluation: protocol clean" in caption
        assert b.console_errors() == []


def test_the_browser_check_sees_console_errors(tmp_path):
    """The check above can fail: a page with a console error and an uncaught exception is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><p>x</p><script>console.error('boom'); null.f();</script></body></html>")
    with Browser(chromium_or_skip()) as b:
        b.open_page()
        b.navigate(page.as_uri())
        b.wait_for("document.readyState === 'complete'")
        errors = b.console_errors()
    assert any("boom" in e for e in errors) and any("exception" in e for e in errors), errors
