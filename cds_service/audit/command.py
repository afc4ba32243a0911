"""``cds-service audit INPUT... --out DIR``: the command line of the retrospective audit."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from .run import AuditError, AuditOptions, run_audit


def add_command(commands) -> None:
    audit = commands.add_parser(
        "audit", help="run the encounter-discharge checks over a FHIR Bulk Data export",
        description="Evaluate each finished encounter of a FHIR Bulk Data export (NDJSON files, "
                    "gzipped or not) as the encounter-discharge hook would, and write "
                    "findings.csv, findings.parquet, cards.ndjson, errors.ndjson, summary.json "
                    "and report.html into DIR.")
    audit.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="export files or folders (*.ndjson, *.ndjson.gz, *.jsonl)")
    audit.add_argument("--out", required=True, metavar="DIR", help="the output folder")
    audit.add_argument("--from", dest="date_from", type=_day, metavar="DATE",
                       help="first date of service audited (YYYY-MM-DD, inclusive)")
    audit.add_argument("--to", dest="date_to", type=_day, metavar="DATE",
                       help="last date of service audited (YYYY-MM-DD, inclusive)")
    audit.add_argument("--engine", choices=("local", "dask"), default="local",
                       help="local: processes on this machine (default); dask: Dask distributed")
    audit.add_argument("--scheduler", metavar="ADDRESS",
                       help="an existing Dask cluster's scheduler (tcp://host:8786); without "
                            "it, --engine dask starts a local cluster")
    audit.add_argument("--workers", type=_positive, metavar="N",
                       help="worker processes (default: the usable CPUs; ignored with "
                            "--scheduler)")
    audit.add_argument("--partition-mb", type=_positive, default=64, metavar="MB",
                       help="about how much of the export one task holds in memory (default 64)")
    audit.add_argument("--work-dir", metavar="DIR",
                       help="where the partition files go (default: inside --out); with "
                            "--scheduler, a folder every worker sees at the same path")


def run(args: argparse.Namespace) -> int:
    if args.scheduler and args.engine != "dask":
        print("cds-service audit: --scheduler needs --engine dask", file=sys.stderr)
        return 2
    options = AuditOptions(inputs=args.inputs, out=args.out, date_from=args.date_from,
                           date_to=args.date_to, engine=args.engine, scheduler=args.scheduler,
                           workers=args.workers, partition_mb=args.partition_mb,
                           work_dir=args.work_dir)
    try:
        summary = run_audit(options)
    except AuditError as exc:
        print(f"cds-service audit: {exc}", file=sys.stderr)
        return 2
    encounters = summary["encounters"]
    problems = sum(summary["problems"].values())
    print(f"audited {encounters['audited']} encounters: {summary['cards']} findings on "
          f"{encounters['with_findings']}; {problems} input problems; see {args.out}/report.html")
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date as YYYY-MM-DD") from None


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError("expected a whole number of at least 1")
    return number
