"""Resumable downloads (orca/data/download/resumable.py via orca/data/download/fetching.py) against a local HTTP server."""

import hashlib
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import numpy as np
import pooch
import pytest

from orca.data import DataUnavailableError
from orca.data.download import resumable
from orca.data.download.fetching import ensure_file
from orca.data.download.resumable import part_path, plan

PAYLOAD = np.random.default_rng(0).bytes(1_000_000)
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.payload`` at any path; honours ``Range`` unless told not to; can cut early."""

    def do_GET(self):
        srv = self.server
        rng = self.headers.get("Range")
        srv.ranges.append(rng)
        if srv.status != 200:
            self.send_error(srv.status)
            return
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng and srv.honour_range else 0
        if start >= len(srv.payload) and start > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(srv.payload)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = srv.payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(srv.payload) - 1}/{len(srv.payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        body = body if srv.cut_after is None else body[:srv.cut_after]
        self.wfile.write(body)  # HTTP/1.0: the connection closes after this, short of Content-Length
        srv.sent += len(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    """A local HTTP server in a thread; pooch's pauses between retries are skipped."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(pooch.core, "time", SimpleNamespace(sleep=lambda s: None))
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.payload, srv.honour_range, srv.cut_after, srv.status = PAYLOAD, True, None, 200
    srv.ranges, srv.sent = [], 0
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/data/f.bin"
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def pooch_log():
    """Records of pooch's logger (where the downloader writes its notes and progress)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    pooch.get_logger().addHandler(handler)
    yield records
    pooch.get_logger().removeHandler(handler)


def _entry(url, md5=MD5):
    return {"name": "f.bin", "urls": [url], "md5": md5, "size": len(PAYLOAD)}


def _leftovers(folder):
    """Files other than the target and its verified stamp (parts, pooch temporaries)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in ("f.bin", ".f.bin.verified"))


def test_cut_download_keeps_part_and_next_fetch_resumes(tmp_path, server):
    server.cut_after = 300_000
    with pytest.raises(DataUnavailableError) as e:
        ensure_file("f.bin", tmp_path, _entry(server.url))
    part = part_path(tmp_path / "f.bin")
    kept = part.stat().st_size
    assert 0 < kept < len(PAYLOAD) and str(part) in str(e.value) and "resumes" in str(e.value)
    assert PAYLOAD.startswith(part.read_bytes())
    assert server.ranges[0] is None and all(r and r.startswith("bytes=") for r in server.ranges[1:])
    assert not (tmp_path / "f.bin").exists()

    server.cut_after, server.ranges, server.sent = None, [], 0
    assert ensure_file("f.bin", tmp_path, _entry(server.url)) == tmp_path / "f.bin"
    assert server.ranges == [f"bytes={kept}-"]
    assert server.sent == len(PAYLOAD) - kept < len(PAYLOAD)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == []


def test_cut_download_resumes_within_one_fetch(tmp_path, server):
    server.cut_after = 400_000  # three tries of 400 kB cover the 1 MB file
    assert ensure_file("f.bin", tmp_path, _entry(server.url)).read_bytes() == PAYLOAD
    assert len(server.ranges) == 3 and server.ranges[1] != server.ranges[2]
    assert server.sent < len(PAYLOAD) + 3 * resumable.CHUNK_BYTES  # a cut loses at most a chunk
    assert _leftovers(tmp_path) == []


def test_server_ignoring_range_restarts_cleanly(tmp_path, server, pooch_log):
    part_path(tmp_path / "f.bin").write_bytes(b"junk" * 1000)
    server.honour_range = False
    assert ensure_file("f.bin", tmp_path, _entry(server.url)).read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=4000-"] and server.sent == len(PAYLOAD)
    assert any("ignores Range" in r.getMessage() for r in pooch_log)
    assert _leftovers(tmp_path) == []


def test_corrupt_part_is_discarded_and_download_restarts(tmp_path, server, pooch_log):
    part_path(tmp_path / "f.bin").write_bytes(bytes(400_000))  # right length, wrong bytes
    assert ensure_file("f.bin", tmp_path, _entry(server.url)).read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=400000-", None]
    assert any("failed its checksum" in r.getMessage() and "from zero" in r.getMessage() for r in pooch_log)
    assert _leftovers(tmp_path) == []


def test_wrong_checksum_deletes_the_file_and_says_so(tmp_path, server):
    part_path(tmp_path / "f.bin").write_bytes(PAYLOAD[:1000])
    with pytest.raises(DataUnavailableError) as e:
        ensure_file("f.bin", tmp_path, _entry(server.url, md5="0" * 32))
    msg = str(e.value)
    assert "checksum mismatch" in msg and "deleted" in msg and "0" * 32 in msg and server.url in msg
    assert len(server.ranges) == 3  # bounded: one try plus RETRIES_PER_URL
    assert _leftovers(tmp_path) == [] and not (tmp_path / "f.bin").exists()


@pytest.mark.parametrize("part_bytes, complete", [(PAYLOAD, True), (PAYLOAD + b"extra", False)])
def test_416_means_complete_or_bad_part(tmp_path, server, part_bytes, complete):
    part_path(tmp_path / "f.bin").write_bytes(part_bytes)
    assert ensure_file("f.bin", tmp_path, _entry(server.url)).read_bytes() == PAYLOAD
    assert server.ranges == ([f"bytes={len(part_bytes)}-"] + ([] if complete else [None]))
    assert server.sent == (0 if complete else len(PAYLOAD))


def test_unreachable_url_fails_at_once_with_hand_placement_message(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/nb360/f.bin"
    t0 = time.monotonic()
    with pytest.raises(DataUnavailableError) as e:
        ensure_file("f.bin", tmp_path / "nb360", _entry(url))
    assert time.monotonic() - t0 < 1.0  # no retries, no pauses
    msg = str(e.value)
    assert "'f.bin'" in msg and url in msg and str(tmp_path / "nb360" / "f.bin") in msg
    assert "To place it by hand" in msg and MD5 in msg


def test_missing_file_on_server_is_not_retried(tmp_path, server):
    server.status = 404
    with pytest.raises(DataUnavailableError, match="HTTP 404"):
        ensure_file("f.bin", tmp_path, _entry(server.url))
    assert len(server.ranges) == 1


def test_second_url_is_used_when_first_fails(tmp_path, server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/f.bin"
    entry = {"name": "f.bin", "urls": [dead, server.url], "md5": MD5}
    assert ensure_file("f.bin", tmp_path, entry).read_bytes() == PAYLOAD


def test_progress_lines_without_tqdm(tmp_path, server, pooch_log, monkeypatch):
    monkeypatch.setattr(resumable, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    ensure_file("f.bin", tmp_path, _entry(server.url))
    lines = [r.getMessage() for r in pooch_log if "MiB" in r.getMessage()]
    assert 5 <= len(lines) <= 11 and lines[-1].endswith("(100%)")


def test_progress_bar_with_tqdm(tmp_path, server, monkeypatch, capsys):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(resumable, "PROGRESS_MIN_BYTES", 0)
    assert ensure_file("f.bin", tmp_path, _entry(server.url)).read_bytes() == PAYLOAD
    assert "f.bin" in capsys.readouterr().err


def test_plan():
    h = {"Content-Range": "bytes 10-99/100", "Content-Length": "90"}
    assert plan(206, 10, h) == ("append", 100)
    assert plan(206, 20, h) == ("bad", 100)
    assert plan(200, 10, {"Content-Length": "100"}) == ("restart", 100)
    assert plan(416, 100, {"Content-Range": "bytes */100"}) == ("complete", 100)
    assert plan(416, 100, {}) == ("complete", None)
    assert plan(416, 120, {"Content-Range": "bytes */100"}) == ("bad", 100)
    assert plan(503, 0, {})[0] == "error"
