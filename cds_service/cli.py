"""The ``cds-service`` command: serve the API, evaluate one hook request from a file, or show
the effective configuration."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import CdsError
from .hooks import SERVICES
from .settings import CONFIG_FILE_ENV, Settings, SettingsError

_HOOK_TO_SERVICE = {s.hook: s.id for s in SERVICES.values()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the CDS Hooks API (gunicorn)")
    serve.add_argument("--host", help="address to bind (default: CDS_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: CDS_PORT, else 8080)")
    serve.add_argument("--workers", type=int,
                       help="worker processes (default: CDS_WORKERS, else the usable CPUs)")
    serve.add_argument("--threads", type=int,
                       help="threads per worker (default: CDS_THREADS, else 4)")

    config = commands.add_parser(
        "config", help="check the settings and print them, secrets masked (exit 2 if invalid)")
    config.add_argument("--format", choices=("text", "json"), default="text")

    from .store.commands import add_commands  # db upgrade, report

    store_commands = add_commands(commands)

    from .audit.command import add_command as add_audit_command

    add_audit_command(commands)

    evaluate = commands.add_parser("evaluate", help="run one hook request and print the cards")
    evaluate.add_argument("request", help="a CDS Hooks request JSON file, or - for stdin")
    evaluate.add_argument("--service", help="service id (default: chosen from the request's hook)")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "config":
        return _config(args)
    if args.command in store_commands:
        return store_commands[args.command](args)
    if args.command == "audit":
        from .audit.command import run as run_audit_command

        return run_audit_command(args)
    return _evaluate(args)


def _serve(args: argparse.Namespace) -> int:
    from .cards import CardTemplateError
    from .server import run
    from .store import StoreError
    from .terminology import TerminologyError

    try:
        settings = Settings.load(overrides={"host": args.host, "port": args.port,
                                            "workers": args.workers, "threads": args.threads})
        return run(settings=settings)
    except SettingsError as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
    except (TerminologyError, CardTemplateError, StoreError) as exc:
        print(f"cds-service: cannot start: {exc}", file=sys.stderr)
    return 2


def _config(args: argparse.Namespace) -> int:
    try:
        settings, sources = Settings.load_with_sources()
    except SettingsError as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
        return 2
    rows = settings.describe(sources)
    if args.format == "json":
        print(json.dumps({row["env"]: row["value"] for row in rows}, indent=2))
        return 0
    config_file = os.environ.get(CONFIG_FILE_ENV) or "not set"
    print(f"# effective settings ({CONFIG_FILE_ENV}: {config_file}); secrets masked")
    pairs = [(f"{row['env']}={_plain(row['value'])}", row["source"]) for row in rows]
    width = max(len(pair) for pair, _ in pairs)
    for pair, source in pairs:
        print(f"{pair.ljust(width)}  # {source}")
    return 0


def _plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _evaluate(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.request == "-" else Path(args.request).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.request}: {exc.__class__.__name__}", file=sys.stderr)
        return 2
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        print(f"error: {args.request} is not valid JSON", file=sys.stderr)
        return 2
    # Example files wrap the request: {"request": {...}, "expect": {...}}
    if isinstance(body, dict) and isinstance(body.get("request"), dict) and "hook" not in body:
        body = body["request"]
    service_id = args.service or (
        _HOOK_TO_SERVICE.get(body.get("hook")) if isinstance(body, dict) else None
    )
    if service_id is None:
        print("error: cannot tell the service from the request's hook; pass --service",
              file=sys.stderr)
        return 2
    from . import create_app

    try:
        pipeline = create_app().extensions["cds"].pipeline
    except SettingsError as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
        return 2
    try:
        result = pipeline.evaluate(service_id, body)
    except CdsError as exc:
        print(f"error: {exc.status}: {exc.message}", file=sys.stderr)
        return 2
    print(json.dumps(result.response, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
