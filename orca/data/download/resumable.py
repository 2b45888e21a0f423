"""A pooch downloader that resumes partial HTTP downloads.

:class:`ResumingDownloader` has pooch's downloader interface (``downloader(url, output_file,
pooch)``, like :class:`pooch.HTTPDownloader`). It streams into ``<target>.part`` next to the
target, which survives a cut connection, a failed fetch or Ctrl-C. The next call asks for the
rest with ``Range: bytes=<part size>-``: ``206`` appends, ``200`` (the server ignores ranges)
rewrites the part from zero, ``416`` means the part is already complete (or, when the server's
total size disagrees, bad: it is deleted and the download restarts). Only a complete part is moved
to ``output_file``; pooch then checks its checksum and moves it into place, or deletes it, so a
retry after a checksum mismatch starts from zero.

A server that cannot be reached at all (offline, DNS failure, refused connection, bad URL) or that
refuses the file (4xx) raises :class:`Unreachable`, which pooch does not retry: fetching fails at
once. A transfer cut midway raises a ``requests`` error, which pooch retries (a bounded number
of times), resuming each time.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

CHUNK_BYTES = 1 << 16
PROGRESS_MIN_BYTES = 16 << 20  # show progress for files at least this big (or of unknown size)
TIMEOUT_S = (15, 60)  # (connect, read)
_NOT_RETRIED_STATUS = {400, 401, 403, 404, 405, 410}


def get_logger():
    """pooch's logger (imported lazily: pooch and requests cost ~70 ms to import)."""
    import pooch

    return pooch.get_logger()


class Unreachable(RuntimeError):
    """The server cannot be reached, or refuses the file: retrying would not help."""


def part_path(target: Path) -> Path:
    """Where the bytes of a partial download of ``target`` are kept."""
    target = Path(target)
    return target.with_name(target.name + ".part")


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 10-99/100`` -> (10, 100); ``bytes */100`` -> (None, 100); unknown parts -> None."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None
    first, total = m.groups()
    return (int(first) if first else None), (int(total) if total != "*" else None)


def plan(status: int, start: int, headers) -> tuple[str, int | None]:
    """What to do with a response to a request for bytes ``start``-: (action, total size or None).

    Actions: ``append`` (206 from ``start``), ``restart`` (200: write from zero), ``complete``
    (416, the part is whole), ``bad`` (the part does not fit the server's file: delete it), or
    ``error`` (any other status).
    """
    length = headers.get("Content-Length")
    first, total = _content_range(headers.get("Content-Range"))
    if status == 200:
        return "restart", int(length) if length else None
    if status == 206 and start > 0 and first == start:
        return "append", total if total is not None else (start + int(length) if length else None)
    if status == 206:
        return "bad", total
    if status == 416 and start > 0:
        return ("complete" if total in (None, start) else "bad"), total
    return "error", None


class _Progress:
    """A tqdm bar (when tqdm is installed) or a log line every 10%; nothing for small files."""

    def __init__(self, name: str, done: int, total: int | None):
        self.name, self.done, self.total = name, done, total
        self.show = total is None or total >= PROGRESS_MIN_BYTES
        self.bar = self._tqdm() if self.show else None
        self.step = max(1, total // 10) if total else 64 << 20
        self.next_log = done + self.step
        self.logged = done

    def _tqdm(self):
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        return tqdm(total=self.total, initial=self.done, unit="B", unit_scale=True, ncols=79,
                    desc=self.name, leave=True)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.show and self.done >= self.next_log:
            self.next_log = self.done + self.step
            self._log()

    def _log(self) -> None:
        self.logged = self.done
        pct = f" ({100 * self.done // self.total}%)" if self.total else ""
        of = f" of {self.total / 2**20:.1f}" if self.total else ""
        get_logger().info("%s: %.1f%s MiB%s", self.name, self.done / 2**20, of, pct)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.show and self.logged != self.done:
            self._log()  # where it ended: finished, or cut


class ResumingDownloader:
    """pooch downloader keeping partial bytes in ``part`` and resuming with HTTP Range requests."""

    def __init__(self, part: Path, timeout=TIMEOUT_S):
        self.part = Path(part)
        self.timeout = timeout
        self.reached = False  # got any response from the server through this downloader
        self.handed_resumed = False  # last file handed to pooch included bytes of an earlier try

    def __call__(self, url: str, output_file, pooch=None, check_only: bool = False):
        """Download ``url`` into ``output_file`` (a path or a binary file object)."""
        import requests

        if check_only:
            return requests.head(url, timeout=self.timeout, allow_redirects=True).status_code == 200
        self._warn_if_resume_failed()
        self.handed_resumed = self._fill_part(url)
        self._hand_over(output_file)
        return None

    def _warn_if_resume_failed(self) -> None:
        """Called again after handing over a resumed file: pooch found its checksum wrong."""
        if self.handed_resumed:
            get_logger().warning(
                "%s: the download resumed from %s failed its checksum (the partial file was "
                "corrupt or the file changed on the server); deleted it, downloading again from zero",
                self.part.name.removesuffix(".part"), self.part)
            self.handed_resumed = False

    def _fill_part(self, url: str) -> bool:
        """Make ``part`` hold the whole file; True when it kept bytes from an earlier try."""
        for _ in range(2):  # at most one restart from zero when the part does not fit
            start = self.part.stat().st_size if self.part.is_file() else 0
            with self._get(url, start) as response:
                action, total = plan(response.status_code, start, response.headers)
                if action == "error":
                    self._raise_for_status(url, response)
                if action == "bad":
                    get_logger().warning("%s does not fit %s (server size %s); restarting from zero",
                                         self.part, url, total)
                    self.part.unlink(missing_ok=True)
                    continue
                if action == "restart" and start:
                    get_logger().info("%s ignores Range requests; downloading from zero", url)
                if action != "complete":
                    self._stream(url, response, start if action == "append" else 0, total)
                return start > 0 and action != "restart"
        raise Unreachable(f"{url}: the server answered a request for the whole file as a partial one")

    def _get(self, url: str, start: int):
        import requests

        headers = {"Accept-Encoding": "identity"}  # byte offsets must be those of the file
        if start:
            headers["Range"] = f"bytes={start}-"
            get_logger().info("Resuming %s from byte %d (%s)", url, start, self.part)
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=self.timeout)
        except (requests.ConnectionError, requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema) as e:
            if self.reached and isinstance(e, requests.ConnectionError):
                raise  # it answered before: a network hiccup, let pooch retry
            raise Unreachable(f"cannot reach {url}: {e}") from e
        self.reached = True
        return response

    @staticmethod
    def _raise_for_status(url: str, response) -> None:
        if response.status_code in _NOT_RETRIED_STATUS:
            raise Unreachable(f"{url}: HTTP {response.status_code} {response.reason}")
        response.raise_for_status()  # 5xx and the like: pooch retries
        raise Unreachable(f"{url}: unexpected HTTP {response.status_code} {response.reason}")

    def _stream(self, url: str, response, offset: int, total: int | None) -> None:
        """Append the body to the part (or write it from zero when ``offset`` is 0)."""
        import requests

        progress = _Progress(self.part.name.removesuffix(".part"), offset, total)
        try:
            with open(self.part, "ab" if offset else "wb") as fh:
                for chunk in response.iter_content(CHUNK_BYTES):
                    fh.write(chunk)
                    progress.update(len(chunk))
        finally:
            progress.close()
        size = self.part.stat().st_size
        if total is not None and size != total:
            raise requests.exceptions.ChunkedEncodingError(
                f"{url}: transfer ended at byte {size} of {total}; {self.part} keeps them for the next try")

    def _hand_over(self, output_file) -> None:
        """Move the complete part to pooch's output file (it checks the checksum next)."""
        if hasattr(output_file, "write"):
            with open(self.part, "rb") as fh:
                shutil.copyfileobj(fh, output_file)
            self.part.unlink()
        else:
            os.replace(self.part, output_file)
