"""Say what to do about a stale Snakemake lock before `snakemake` itself stops on it.

    python scripts/check_lock.py [WORKDIR]        (default: the current folder)

Snakemake writes lock files under ``<workdir>/.snakemake/locks/`` when a run starts and removes them when
it ends. A run killed with ``kill -9`` (or a closed terminal, a power loss) leaves them behind, and the
next run stops with "Directory cannot be locked". This script finds such a lock: lock files present, and
no process with "snakemake" in its command line whose current folder is WORKDIR. Then it prints what to
run to stderr and exits 2; otherwise it prints nothing and exits 0. The Makefile's snakemake targets run
it first. Linux only (it reads /proc); elsewhere a lock is never called stale.

Standard library only, so it starts in a few milliseconds.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

PROC = Path("/proc")
LOCK_DIR = Path(".snakemake") / "locks"


def lock_files(workdir: Path) -> list[Path]:
    """The files under ``workdir/.snakemake/locks/``, sorted; [] when there is no such folder."""
    try:
        return sorted(p for p in (Path(workdir) / LOCK_DIR).iterdir() if p.is_file())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def _parent_pid(pid: int, proc: Path) -> int | None:
    """The parent of ``pid`` from ``/proc/<pid>/stat`` (None when it cannot be read)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        # "<pid> (<comm>) <state> <ppid> ...": comm may hold spaces and parentheses, so split after the last ')'
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _ancestors(proc: Path = PROC) -> set[int]:
    """This process and its ancestors. They are left out of the scan: `make` runs a recipe line such as
    ``python scripts/check_lock.py && snakemake`` through ``sh -c``, whose command line names snakemake."""
    seen: set[int] = set()
    pid: int | None = os.getpid()
    while pid and pid not in seen:
        seen.add(pid)
        pid = _parent_pid(pid, proc)
    return seen


def snakemake_pids(workdir: Path, proc: Path = PROC, exclude: set[int] | None = None) -> list[int]:
    """Pids of processes whose command line contains "snakemake" and whose current folder is ``workdir``.

    Entries that vanish while we look, or that we may not read (another user's process), are skipped.
    ``exclude``: pids to leave out (default: this process and its ancestors).
    """
    exclude = _ancestors(proc) if exclude is None else exclude
    target = os.path.realpath(workdir)
    found = []
    try:
        entries = list(proc.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"snakemake" not in cmdline:
                continue
            cwd = os.readlink(entry / "cwd")
        except OSError:  # the process ended meanwhile, or its cwd is not ours to read
            continue
        if cwd == target or os.path.realpath(cwd) == target:
            found.append(int(entry.name))
    return sorted(found)


def stale_lock_message(workdir: Path, proc: Path = PROC) -> str | None:
    """A one-paragraph message when ``workdir`` holds a Snakemake lock that no running snakemake owns, else None.

    None when there is no lock, when a snakemake process is still running in ``workdir`` (its lock is
    real), or when ``proc`` cannot be read (no /proc: nothing can be said).
    """
    workdir = Path(workdir)
    locks = lock_files(workdir)
    if not locks or not proc.is_dir() or snakemake_pids(workdir, proc):
        return None
    names = ", ".join(str(LOCK_DIR / p.name) for p in locks)
    here = os.path.realpath(workdir) == os.path.realpath(Path.cwd())
    unlock = ".venv/bin/snakemake --unlock"
    command = unlock if here else f"cd {shlex.quote(str(workdir))} && {unlock}"
    return (
        f"Stale Snakemake lock in {workdir.resolve()}: {names} "
        f"({len(locks)} file{'s' if len(locks) != 1 else ''}), but no snakemake process is running in "
        "that folder. A previous run was killed (kill -9, a closed terminal, a crash) before it could "
        "remove its lock, and snakemake would now stop with \"Directory cannot be locked\". If no other "
        "snakemake uses this folder (e.g. from another machine on a shared file system), run "
        f"`{command}` and then the same command again. --unlock only deletes the lock files; the "
        "jobs the killed run left unfinished are rerun (rerun-incomplete)."
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__.strip(), file=sys.stderr)
        return 0 if args and args[0] in ("-h", "--help") else 64
    message = stale_lock_message(Path(args[0]) if args else Path.cwd())
    if message is None:
        return 0
    print(f"check_lock: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
