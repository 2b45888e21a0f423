"""Raw-file download helper shared by the file-based loaders (``arrays``, ``pdebench_hdf5``).

A loader's args may carry ``download``: a list of manifest entries (``{name, urls, md5 | sha256, size}``),
the row's raw files written once in its task file. :func:`ensure_files` makes each
named file exist under ``folder``: a file already there is accepted (checked against its size,
and against its checksum once, leaving a ``.<name>.verified`` stamp); a missing one is
downloaded with pooch from its URLs in order, with a bounded number of retries per URL. The
bytes got so far are kept in ``<name>.part`` and later tries resume from them (HTTP Range,
:mod:`orca.data.download.resumable`); pooch checks the checksum of the whole file and deletes a bad one.
When no URL works (offline, dead link, bad checksum) it raises :class:`DataUnavailableError`
naming the file, its URLs and the exact path to place a manual copy at. An unreachable server
is not retried, so offline fetching fails at once. Nothing here loops forever.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from ..core import DataFormatError, DataUnavailableError
from .resumable import ResumingDownloader, Unreachable, part_path

RETRIES_PER_URL = 2  # extra tries after a cut transfer or a checksum mismatch (not when unreachable)


def manifest_entries(download) -> dict[str, dict]:
    """``download`` (list of entries, or None) -> {name: entry}; validates the entries' keys."""
    out: dict[str, dict] = {}
    for entry in download or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ValueError(f"download entries need at least a 'name'; got {entry!r}")
        unknown = set(entry) - {"name", "urls", "md5", "sha256", "size", "note"}
        if unknown:
            raise ValueError(f"download entry {entry['name']!r}: unknown keys {sorted(unknown)}; "
                             "allowed: name, urls, md5, sha256, size, note")
        out[entry["name"]] = entry
    return out


def file_digest(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def known_hash(entry: dict) -> str | None:
    """pooch-style ``algo:hex`` for an entry, or None when no checksum is known."""
    if entry.get("sha256"):
        return f"sha256:{entry['sha256'].lower()}"
    if entry.get("md5"):
        return f"md5:{entry['md5'].lower()}"
    return None


_SKIPPED: set[Path] = set()  # stand-in files whose skipped checks were reported (rehearsal)
#: The file that marks a data folder as a rehearsal's stand-ins (written by orca.rehearsal.standins, nothing else)
STANDIN_MARKER = "REHEARSAL-STANDINS"


def standin_folder(path: Path) -> Path | None:
    """The stand-in data folder ``path`` lies in (the nearest parent holding :data:`STANDIN_MARKER`), or None."""
    for folder in [Path(path), *Path(path).parents]:
        if (folder / STANDIN_MARKER).is_file():
            return folder
    return None


def verify(path: Path, entry: dict) -> None:
    """Check size and checksum of a local file once; a stamp file remembers a passed check.

    For a stand-in file (in a folder marked by :data:`STANDIN_MARKER`: a rehearsal's) both checks are skipped,
    and a line on stderr says so."""
    path = Path(path)
    if (entry.get("size") is not None or known_hash(entry)) and standin_folder(path.parent) is not None:
        if path not in _SKIPPED:  # said once per file and process
            _SKIPPED.add(path)
            print(f"REHEARSAL: checksum and size checks skipped for stand-in file {path}", file=sys.stderr)
        return
    size = entry.get("size")
    if size is not None and path.stat().st_size != int(size):
        raise DataFormatError(f"{path}: size {path.stat().st_size} bytes, expected {size} "
                              f"(truncated or wrong file); delete it and fetch again")
    kh = known_hash(entry)
    if kh is None:
        return
    stamp = path.parent / f".{path.name}.verified"
    sig = f"{kh} {path.stat().st_size} {path.stat().st_mtime_ns}"
    if stamp.is_file() and stamp.read_text().strip() == sig:
        return
    algo, want = kh.split(":", 1)
    got = file_digest(path, algo)
    if got != want:
        raise DataFormatError(f"{path}: {algo} {got} does not match the manifest's {want}; "
                              "delete the file and fetch again, or fix the manifest entry")
    stamp.write_text(sig + "\n")


def _unavailable(name: str, entry: dict, target: Path, errors: list[str]) -> DataUnavailableError:
    urls = entry.get("urls") or []
    how = (f"download it from {' or '.join(urls)}" if urls else
           "no public URL is known for it (see the task file's comments for its origin)")
    tried = f" Tried: {'; '.join(errors)}." if errors else ""
    check = f" Expected {known_hash(entry)}." if known_hash(entry) else ""
    part = part_path(target)
    kept = (f" The {part.stat().st_size} bytes got so far are kept in {part}; the next fetch resumes "
            "from them." if part.is_file() else "")
    return DataUnavailableError(
        f"raw file {name!r} is not at {target} and could not be downloaded.{tried}{kept} "
        f"To place it by hand, {how} and save it as {target}.{check}")


def _download(url: str, target: Path, entry: dict) -> None:
    """Download ``url`` to ``target`` with pooch: resumable, checksum-checked, bounded retries."""
    import pooch

    pup = pooch.create(path=target.parent, base_url="", registry={target.name: known_hash(entry)},
                       urls={target.name: url}, retry_if_failed=RETRIES_PER_URL)
    pup.fetch(target.name, downloader=ResumingDownloader(part_path(target)))


def _describe(url: str, error: Exception) -> str:
    """One line for the error message: which URL failed and why."""
    if isinstance(error, ValueError) and "does not match the known hash" in str(error):
        return f"{url}: checksum mismatch, the downloaded file was deleted ({error})"
    if isinstance(error, Unreachable):
        return str(error)
    return f"{url}: {type(error).__name__}: {error}"


def ensure_file(name: str, folder: Path, entry: dict | None = None) -> Path:
    """Make ``folder/name`` exist (download when missing); return its path."""
    entry = dict(entry or {"name": name})
    target = Path(folder) / name
    if target.is_file():
        verify(target, entry)
        return target
    errors: list[str] = []
    urls = entry.get("urls") or []
    if urls:
        target.parent.mkdir(parents=True, exist_ok=True)
        for url in urls:
            try:
                _download(url, target, entry)
            except (OSError, ValueError, RuntimeError) as e:  # unreachable, HTTP, cut, checksum: next URL
                errors.append(_describe(url, e))
                continue
            if target.is_file():
                verify(target, entry)
                return target
    raise _unavailable(name, entry, target, errors)


def ensure_files(names: list[str], folder: Path, download=None) -> list[Path]:
    """:func:`ensure_file` for each name, with entries from a ``download`` manifest list."""
    entries = manifest_entries(download)
    return [ensure_file(n, folder, entries.get(n)) for n in names]
