"""``cds-service codeset add|list|remove``: the ICD-10-CM releases the service judges with.

The data folder the releases are kept in (CDS_DATA_DIR as the settings resolve it) comes from the
command line's caller, ``cli.py``: this package reads no settings."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from . import release_store
from .release_files import parse_release_file
from .releases import ReleaseSet, bundled_release, fiscal_year_of, release_label
from .tabular import TabularError


def add_commands(commands, data_dir: Callable[[], str | None]
                 ) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register ``codeset`` on the ``cds-service`` parser; return its handler. ``data_dir``
    gives the configured data folder (None: the default one) when a command runs."""
    codeset = commands.add_parser(
        "codeset", help="load, list or remove CDC ICD-10-CM releases (judged by date of service)",
        description="ICD-10-CM releases, kept under CDS_DATA_DIR/icd10cm-releases. A release "
                    "for fiscal year N applies to dates of service from October 1 of N-1 to "
                    "September 30 of N. Running servers read a change at their next start, or "
                    "when the gunicorn master gets SIGHUP.")
    actions = codeset.add_subparsers(dest="codeset_command", required=True)
    add = actions.add_parser(
        "add", help="check and store a CDC ICD-10-CM tabular XML (or the CDC zip holding one)")
    add.add_argument("file", type=Path,
                     help="icd10cm-tabular-YYYY.xml, or the CDC table-and-index zip")
    add.add_argument("--effective", type=_day, metavar="YYYY-MM-DD",
                     help="first date of service (default: October 1 before the fiscal year "
                          "in <version>; an April update needs --effective 2027-04-01)")
    add.add_argument("--codes", type=Path, metavar="FILE",
                     help="the release's CDC code list (icd10cm-codes-YYYY.txt or its zip): "
                          "drops the few 7th-character codes the tabular's sevenChrDef "
                          "implies but the CDC does not list")
    listing = actions.add_parser("list", help="show each release and its window")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    remove = actions.add_parser("remove", help="remove a loaded release")
    remove.add_argument("release", help="its fiscal year (FY2027) or effective date (2026-10-01)")
    return {"codeset": lambda args: _codeset(args, data_dir())}


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _codeset(args: argparse.Namespace, data_dir: str | None) -> int:
    try:
        directory = release_store.store_dir(data_dir)
    except RuntimeError:  # no home directory and no CDS_DATA_DIR
        print("cds-service: set CDS_DATA_DIR: no folder to keep ICD-10-CM releases in",
              file=sys.stderr)
        return 2
    return {"add": _add, "list": _list, "remove": _remove}[args.codeset_command](args, directory)


def _add(args: argparse.Namespace, directory: Path) -> int:
    try:
        parsed = parse_release_file(args.file, args.effective, args.codes)
    except TabularError as exc:
        print(f"cds-service: {args.file} is not a CDC ICD-10-CM tabular release: {exc}",
              file=sys.stderr)
        return 2
    replaced = (directory / f"icd10cm-{parsed.effective.isoformat()}.marshal").exists()
    try:
        path = release_store.store_release(parsed, directory)
    except release_store.ReleaseStoreError as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
        return 2
    label = release_label(parsed.fiscal_year, parsed.effective)
    until = date(parsed.fiscal_year, 9, 30)
    print(f"{'replaced' if replaced else 'stored'} {label}: dates of service "
          f"{parsed.effective} to {until}, {len(parsed.table):,} codes, from {parsed.origin} "
          f"(sha256 {parsed.sha256[:12]}) in {path}")
    if not parsed.code_list:
        print("note: no CDC code list given (--codes): every 7th-character code the tabular's "
              "sevenChrDef implies counts as a code")
    print("Running servers use it after a restart, or a reload: kill -HUP <gunicorn master pid>")
    return 0


def _list(args: argparse.Namespace, directory: Path) -> int:
    stored = release_store.list_stored(directory)
    release_set = ReleaseSet([bundled_release(), *stored])
    today = datetime.now(UTC).date()
    current = release_set.in_force(today)
    rows = [dict(r.describe(), inForceToday=r is current and r.covers(today))
            for r in release_set.releases]
    covered = release_set.covers(today)
    if args.format == "json":
        print(json.dumps({"folder": str(directory), "today": today.isoformat(),
                          "todayCovered": covered, "releases": rows}, indent=2))
        return 0
    print(f"# ICD-10-CM releases (stored in {directory})")
    width = max(len(row["release"]) for row in rows)
    for row in rows:
        mark = "  <- today" if row["inForceToday"] else ""
        print(f"{row['release'].ljust(width)}  {row['effective']} to {row['until']}  "
              f"{row['codes']:>7,} codes  {row['source']:<7}  {row['origin']}{mark}")
    if not covered:
        applies = fiscal_year_of(today)
        print(f"warning: no loaded release covers today ({today}); CDC ICD-10-CM FY{applies} "
              f"applies: load it with `cds-service codeset add icd10cm-tabular-{applies}.xml`")
    return 0


def _remove(args: argparse.Namespace, directory: Path) -> int:
    try:
        release = release_store.remove_release(directory, args.release)
    except release_store.ReleaseStoreError as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
        return 2
    print(f"removed {release.label} ({release.effective} to {release.until}); running servers "
          "drop it after a restart or a reload (SIGHUP)")
    return 0
