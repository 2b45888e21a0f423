"""The ``orca bundle`` and ``orca verify`` sub-commands (orca.report.bundle does the work).

  orca bundle TABLE [--configfile F ...] [--out PATH]   pack a built table, its run records, settings,
                                                        environment and checksums into one .tar.gz
  orca verify BUNDLE                                    check the bundle's checksums, rebuild its table from
                                                        the bundled records and compare byte for byte

Exit status: 0 on success (verify: every file matches and every table file rebuilds identically), 1 when verify
finds a changed file or a different table file, 2 for bad input (the message says what to fix).
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["add_bundle_parsers", "run_bundle", "run_verify"]


def add_bundle_parsers(subparsers) -> None:
    """Add the ``bundle`` and ``verify`` sub-commands to ``subparsers`` (``ArgumentParser.add_subparsers()``)."""
    p = subparsers.add_parser(
        "bundle", help="pack a built table with its run records, settings, environment and checksums (.tar.gz)",
        description="Pack table TABLE (built by `snakemake table_TABLE`, run from the same folder) into one "
                    "deterministic .tar.gz: the table files, every run record it used, the report job's settings "
                    "document and published CSV, the environment lock, data checksums and MANIFEST.json.")
    p.add_argument("table", metavar="TABLE", help="the table's name in the config (e.g. default, nb360)")
    p.add_argument("--configfile", action="extend", nargs="+", default=[], metavar="F",
                   help="config files merged over config/config.yaml, as given to snakemake (repeatable)")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="the archive to write (default: bundles/<table>-<manifest hash>.tar.gz)")

    p = subparsers.add_parser(
        "verify", help="check a bundle's checksums and rebuild its table from the bundled records",
        description="Check every file of BUNDLE against its MANIFEST.json, then rebuild the table from the bundled "
                    "run records, settings document and published CSV alone and compare it byte for byte with the "
                    "bundled table files. Exit 0 only when everything matches.")
    p.add_argument("bundle", metavar="BUNDLE", help="a .tar.gz written by `orca bundle`")


def _error(command: str, err: Exception) -> int:
    print(f"orca {command}: error: {err}", file=sys.stderr)
    return 2


def run_bundle(args: argparse.Namespace) -> int:
    """``orca bundle``: write the archive and say where; 2 for bad input."""
    from .bundle import BundleError, make_bundle

    try:
        bundle = make_bundle(args.table, args.configfile, args.out)
    except (BundleError, ValueError, OSError) as err:  # ValueError: the config's (Grid's ConfigError)
        return _error("bundle", err)
    for warning in bundle.warnings:
        print(f"orca bundle: warning: {warning}", file=sys.stderr)
    m = bundle.manifest
    missing = m["runs"]["missing"]
    print(f"table {m['table']} ({m['mode']}): {len(m['table_files'])} table files, {m['runs']['bundled']} of "
          f"{m['runs']['planned']} run records" + (f" ({len(missing)} missing, listed in MANIFEST.json)" if missing
                                                   else "") + f", {len(m['files'])} files in all")
    print(f"wrote {bundle.path} (bundle {bundle.bundle_id}); check it with: orca verify {bundle.path}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """``orca verify``: print per file identical/different; 0 only when all match, 1 otherwise, 2 for bad input."""
    from .bundle import BundleError, verify_bundle

    try:
        result = verify_bundle(args.bundle)
    except BundleError as err:
        return _error("verify", err)
    m = result.manifest
    print(f"bundle {args.bundle}: table {m.get('table')} ({m.get('mode')}), {len(m['files'])} files, "
          f"{m.get('runs', {}).get('bundled')} run records; made by commit "
          f"{(m.get('code') or {}).get('git_commit') or 'unknown'}")
    if result.bad_files:
        for name, problem in result.bad_files:
            print(f"  changed    {name}: {problem}")
        print(f"orca verify: FAILED: {len(result.bad_files)} file(s) do not match {args.bundle}'s MANIFEST.json "
              "(the table was not rebuilt); bundle the table again from its sources", file=sys.stderr)
        return 1
    print(f"checksums: all {len(m['files'])} files match MANIFEST.json")
    if result.rebuild_error is not None:
        print(f"orca verify: FAILED: the table could not be rebuilt from the bundled records: {result.rebuild_error}",
              file=sys.stderr)
        return 1
    print(f"rebuilt table {m['table']} from the bundled records:")
    for name, same in result.compared:
        print(f"  {'identical' if same else 'different'}  {name}")
    different = [n for n, same in result.compared if not same]
    if result.environment:
        shown = "; ".join(result.environment[:8]) + (" ..." if len(result.environment) > 8 else "")
        print(f"environment: {len(result.environment)} version(s) differ from the bundle's lock "
              f"(bundle/environment.txt): {shown}")
    if result.code_changed:
        bundled, current = result.report_code
        print(f"code: the report code ({current}) is not the one that made the bundle ({bundled})")
    if different:
        causes = [c for c, on in (("the report code changed", result.code_changed),
                                  ("the environment differs", bool(result.environment))) if on]
        hint = (f" ({' and '.join(causes)}: verify with the bundle's commit and bundle/environment.txt)" if causes
                else " (the bundled table is not the one its records build: rebuild the table and bundle it again)")
        print(f"orca verify: FAILED: {len(different)} of {len(result.compared)} table files differ from the rebuilt "
              f"ones{hint}", file=sys.stderr)
        return 1
    print(f"verify: OK, all {len(result.compared)} table files identical")
    return 0
