"""The ``cds-service`` command: serve the API, evaluate one hook request from a file, or show
the effective configuration."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from .cards import CardRenderer
from .errors import CdsError
from .hooks import SERVICES
from .settings import CONFIG_FILE_ENV, Settings, SettingsError, configured_data_dir

_HOOK_TO_SERVICE = {s.hook: s.id for s in SERVICES.values()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the CDS Hooks API (gunicorn)")
    serve.add_argument("--host", help=_setting_help("host"))
    serve.add_argument("--port", type=int, help=_setting_help("port"))
    serve.add_argument("--workers", type=int, help=_setting_help("workers"))
    serve.add_argument("--threads", type=int, help=_setting_help("threads"))

    config = commands.add_parser(
        "config", help="check the settings and print them, secrets masked (exit 2 if invalid)")
    config.add_argument("--format", choices=("text", "json"), default="text")

    from .store.commands import add_commands  # db upgrade, report

    store_commands = add_commands(commands, CardRenderer)
    from .terminology.commands import add_commands as add_codeset_commands

    # codeset add, list, remove
    store_commands.update(add_codeset_commands(commands, configured_data_dir))

    from .audit.command import add_command as add_audit_command

    add_audit_command(commands)

    evaluate = commands.add_parser("evaluate", help="run one hook request and print the cards")
    evaluate.add_argument("request", help="a CDS Hooks request JSON file, or - for stdin")
    evaluate.add_argument("--service", help="service id (default: chosen from the request's hook)")
    evaluate.add_argument(
        "--evidence", action="store_true",
        help="also print each card's evidence (references and offsets into the request's "
             "texts, codes, elements found empty), under \"evidence\" by card uuid")

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



def _setting_help(name: str) -> str:
    """An option's help from its setting (cds_service/settings/): meaning, variable, default,
    so that the help cannot drift from the default the server uses."""
    field = next(f for f in dataclasses.fields(Settings) if f.name == name)
    spec = field.metadata["spec"]
    meaning, _, said_default = spec.description.partition(" (default: ")
    if field.default_factory is not dataclasses.MISSING:  # computed, e.g. the usable CPUs
        default = f"{said_default.rstrip(')')}: {field.default_factory()} here"
    else:
        default = field.default
    # argparse formats help with %: a literal one must be doubled
    return f"{meaning} (default: {spec.env}, else {default})".replace("%", "%%")


def _serve(args: argparse.Namespace) -> int:
    from .card_templates import CardTemplateError
    from .server import run
    from .store.errors import StoreError
    from .terminology import TerminologyError
    from .text import TextTriggerError

    try:
        settings = Settings.load(overrides={"host": args.host, "port": args.port,
                                            "workers": args.workers, "threads": args.threads})
        return run(settings=settings)
    except SettingsError as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
    except (TerminologyError, TextTriggerError, CardTemplateError, StoreError) as exc:
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
    from . import build_pipeline

    try:  # the pipeline alone: no HTTP, so no client authentication and no feedback store
        pipeline = build_pipeline(Settings.load())
    except SettingsError as exc:
        print(f"cds-service: {exc}", file=sys.stderr)
        return 2
    try:
        result = pipeline.evaluate(service_id, body)
    except CdsError as exc:
        print(f"error: {exc.status}: {exc.message}", file=sys.stderr)
        return 2
    output = result.response
    if args.evidence:
        output = {**output, "evidence": {
            card["uuid"]: [item.as_data() for item in finding.evidence]
            for finding, card in zip(result.findings, result.response["cards"], strict=True)}}
    print(json.dumps(output, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
