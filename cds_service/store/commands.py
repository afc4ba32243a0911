"""``cds-service db upgrade`` and ``cds-service report``: the feedback store from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime

from ..settings import Settings, SettingsError


def add_commands(commands) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register the subcommands on the ``cds-service`` parser; return their handlers."""
    db = commands.add_parser("db", help="manage the feedback database")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser(
        "upgrade", help="create the feedback database or apply new schema migrations (the "
                        "server also does this at start-up)")

    report = commands.add_parser(
        "report", help="override analytics: per rule, cards shown, accepted, overridden, top "
                       "override reasons, acceptance rate")
    report.add_argument("--since", type=_since, metavar="DATE",
                        help="only cards shown from this date (YYYY-MM-DD, UTC) or ISO date-time")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    return {"db": _db, "report": _report}


def _since(value: str) -> datetime:
    from .analytics import parse_since

    try:
        return parse_since(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _open_store():
    from . import create_feedback_store

    settings = Settings.load()
    return create_feedback_store(settings)


def _db(args: argparse.Namespace) -> int:
    from .sql import StoreError

    try:
        store = _open_store()
        revision = store.prepare(load_key=False)
    except (SettingsError, StoreError) as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
        return 2
    print(f"feedback database at schema revision {revision}: {store.describe()}")
    store.close()
    return 0


def _report(args: argparse.Namespace) -> int:
    from . import StoreError, render_csv, render_table, rule_report

    try:
        store = _open_store()
        store.prepare(load_key=False)
    except (SettingsError, StoreError) as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
        return 2
    try:
        report = rule_report(store, args.since)
    except Exception as exc:  # a CdsError 503: the database went away after opening
        print(f"cds-service: cannot read the feedback database: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    elif args.format == "csv":
        sys.stdout.write(render_csv(report))
    else:
        sys.stdout.write(render_table(report))
    return 0
