"""``cds-service db upgrade`` and ``cds-service report``: the feedback store from the shell.

The parser is built on every ``cds-service`` start, so SQLAlchemy (``feedback_store.py``) is
imported by these commands' handlers only, when they run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from ..settings import Settings, SettingsError
from .errors import StoreError
from .report import parse_since, render_csv, render_table, rule_report


def add_commands(commands, card_renderer: Callable[[], Any]
                 ) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Register the subcommands on the ``cds-service`` parser; return their handlers.
    ``card_renderer`` makes the ``CardRenderer`` whose templates title the report's rules."""
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
    return {"db": _db, "report": partial(_report, card_renderer=card_renderer)}


def _since(value: str) -> datetime:
    try:
        return parse_since(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _open_store():
    from .feedback_store import create_feedback_store  # SQLAlchemy: see the module docstring

    settings = Settings.load()
    return create_feedback_store(settings)


def _db(args: argparse.Namespace) -> int:
    try:
        store = _open_store()
        revision = store.prepare(load_key=False)
    except (SettingsError, StoreError) as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
        return 2
    print(f"feedback database at schema revision {revision}: {store.describe()}")
    store.close()
    return 0


def _report(args: argparse.Namespace, card_renderer: Callable[[], Any]) -> int:
    try:
        store = _open_store()
        store.prepare(load_key=False)
    except (SettingsError, StoreError) as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
        return 2
    try:
        report = rule_report(store, args.since, card_renderer())
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
