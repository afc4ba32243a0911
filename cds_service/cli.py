"""The ``cds-service`` command: serve the API, or evaluate one hook request from a file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import CdsError
from .hooks import SERVICES

_HOOK_TO_SERVICE = {s.hook: s.id for s in SERVICES.values()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the CDS Hooks API (gunicorn)")
    serve.add_argument("--host", default=os.environ.get("CDS_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("CDS_PORT", "8080")))
    serve.add_argument("--workers", type=int, default=None,
                       help="worker processes (default: CDS_WORKERS, else the number of CPUs)")

    evaluate = commands.add_parser("evaluate", help="run one hook request and print the cards")
    evaluate.add_argument("request", help="a CDS Hooks request JSON file, or - for stdin")
    evaluate.add_argument("--service", help="service id (default: chosen from the request's hook)")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return _evaluate(args)


def _serve(args: argparse.Namespace) -> int:
    from .server import run

    return run(args.host, args.port, args.workers)


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

    pipeline = create_app().extensions["cds"].pipeline
    try:
        result = pipeline.evaluate(service_id, body)
    except CdsError as exc:
        print(f"error: {exc.status}: {exc.message}", file=sys.stderr)
        return 2
    print(json.dumps(result.response, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
