"""One audit run: check the inputs, split the export by patient, evaluate every partition, merge
the results into the output folder."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from ..errors import ServiceError
from .engines import DaskEngine, EngineError, LocalEngine
from .evaluate import PartitionResult, PartitionTask, evaluate_partition, partition_outputs
from .inputs import InputError, estimated_bytes, resolve_inputs
from .outputs import write_cards, write_errors, write_findings
from .progress import Progress
from .report import render_report
from .split import FLUSH_BYTES, SplitResult, SplitTask, partition_folder, split_file

DEFAULT_PARTITION_MB = 64
# Partitions per worker at least: patients differ widely in how many encounters they have, and
# with more, smaller partitions handed out largest first no worker waits long for the last one
# (benchmarks/README.md: 2 workers scaled 1.62x with 2 per worker).
PARTITIONS_PER_WORKER = 4
_TOP_CODE_CHANGES = 20
MISSING_PACKAGES = ("cds-service audit needs the optional packages pyarrow and dask[distributed]: "
                    "pip install 'cds-service[audit]'")


class AuditError(ServiceError):
    """The audit cannot start or go on; the message names the problem, never patient data."""


@dataclass
class AuditOptions:
    inputs: list[str]
    out: str
    date_from: date | None = None
    date_to: date | None = None
    engine: str = "local"
    scheduler: str | None = None
    workers: int | None = None
    partition_mb: int = DEFAULT_PARTITION_MB
    # folder for the partition files (default: inside ``out``); with an existing Dask cluster
    # it must be on a file system the workers share
    work_dir: str | None = None


def check_dependencies(engine: str) -> None:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401

        if engine == "dask":
            import distributed  # noqa: F401
    except ImportError:
        raise AuditError(MISSING_PACKAGES) from None


def run_audit(options: AuditOptions, progress_stream: TextIO | None = None,
              progress: bool | None = None) -> dict[str, Any]:
    """Run the audit; returns the summary also written to ``out/summary.json``."""
    check_dependencies(options.engine)
    if options.date_from and options.date_to and options.date_from > options.date_to:
        raise AuditError("--from is after --to")
    if options.partition_mb < 1:
        raise AuditError("--partition-mb must be at least 1")
    try:
        files = resolve_inputs(options.inputs)
    except InputError as exc:
        raise AuditError(str(exc)) from None
    out = Path(options.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        work_parent = Path(options.work_dir) if options.work_dir else out
        work_parent.mkdir(parents=True, exist_ok=True)
        work_dir = tempfile.mkdtemp(prefix=".audit-work-", dir=work_parent)
    except OSError as exc:
        raise AuditError(f"{options.out}: cannot write the output folder "
                         f"({exc.__class__.__name__})") from None
    engine = (DaskEngine(options.scheduler, options.workers) if options.engine == "dask"
              else LocalEngine(options.workers))
    bar = Progress(progress_stream, progress)
    try:
        with engine:
            total_bytes = sum(estimated_bytes(file) for file in files)
            partitions = max(PARTITIONS_PER_WORKER * engine.workers,
                             math.ceil(total_bytes / (options.partition_mb * 1024 * 1024)))
            split_results = _run_stage(
                engine, split_file,
                [SplitTask(index, str(file), partitions, work_dir,
                           min(FLUSH_BYTES, options.partition_mb * 1024 * 1024))
                 for index, file in enumerate(files)],
                bar, "reading", lambda r: f"{r.lines:,} lines")
            window = (options.date_from.isoformat() if options.date_from else None,
                      options.date_to.isoformat() if options.date_to else None)
            audited = 0

            def note(result: PartitionResult) -> str:
                nonlocal audited
                audited += result.audited
                return f"{audited:,} encounters"

            partition_results = _run_stage(
                engine, evaluate_partition,
                [PartitionTask(k, work_dir, *window)
                 for k in _largest_first(Path(work_dir), partitions)],
                bar, "auditing", note)
        bar.finish()
        summary = _summary(files, split_results, partition_results, options, engine,
                           partitions)
        _write_outputs(out, Path(work_dir), [str(f) for f in files], partitions, summary)
    except EngineError as exc:
        raise AuditError(str(exc)) from None
    except OSError as exc:  # a full disk, a work folder the workers cannot see
        raise AuditError(f"the audit stopped: {exc.__class__.__name__} while reading or "
                         "writing its files") from None
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return summary


def _largest_first(work_dir: Path, partitions: int) -> list[int]:
    """The partitions in the order to hand them out: the largest (in bytes read, a fair proxy
    for encounters to evaluate) first, so the small ones fill the gaps at the end."""
    def size(partition: int) -> int:
        folder = partition_folder(str(work_dir), partition)
        return sum(f.stat().st_size for f in folder.glob("*.tsv")) if folder.is_dir() else 0

    return sorted(range(partitions), key=lambda k: (-size(k), k))


def _run_stage(engine, function, tasks, bar: Progress, label: str, note) -> list:
    bar.start(label, len(tasks))
    results = []
    for result in engine.run(function, tasks):
        results.append(result)
        bar.advance(note(result))
    return results


def _summary(files: list[Path], split_results: list[SplitResult],
             partition_results: list[PartitionResult], options: AuditOptions, engine,
             partitions: int) -> dict[str, Any]:
    resources: Counter = Counter()
    problems: Counter = Counter()
    for result in split_results:
        resources.update(result.resources)
        problems.update(result.problems)
    totals = PartitionResult(-1)
    titles: dict[str, str] = {}
    indicators: dict[str, str] = {}
    for result in partition_results:
        for name in ("patients", "encounters", "finished", "in_window", "audited", "cards"):
            setattr(totals, name, getattr(totals, name) + getattr(result, name))
        totals.cards_by_rule.update(result.cards_by_rule)
        totals.indicators.update(result.indicators)
        totals.findings_per_encounter.update(result.findings_per_encounter)
        totals.code_changes.update(result.code_changes)
        problems.update(result.problems)
        titles.update(result.rule_titles)
        for rule, indicator in result.rule_indicators.items():
            indicators.setdefault(rule, indicator)
            if _urgency(indicator) > _urgency(indicators[rule]):
                indicators[rule] = indicator
    with_findings = sum(n for count, n in totals.findings_per_encounter.items() if count > 0)
    return {
        "inputs": {"files": len(files), "lines": sum(r.lines for r in split_results),
                   "resources": dict(sorted(resources.items()))},
        "window": {"from": options.date_from.isoformat() if options.date_from else None,
                   "to": options.date_to.isoformat() if options.date_to else None},
        "engine": engine.name, "workers": engine.workers, "partitions": partitions,
        "patients": totals.patients,
        "encounters": {"read": totals.encounters, "finished": totals.finished,
                       "in_window": totals.in_window, "audited": totals.audited,
                       "with_findings": with_findings},
        "cards": totals.cards,
        "cards_by_rule": [{"rule": rule, "title": titles.get(rule, rule), "count": count,
                           "indicator": indicators.get(rule, "")}
                          for rule, count in sorted(totals.cards_by_rule.items(),
                                                    key=lambda kv: (-kv[1], kv[0]))],
        "indicators": dict(sorted(totals.indicators.items())),
        "findings_per_encounter": {str(k): v for k, v in
                                   sorted(totals.findings_per_encounter.items())},
        "code_changes": [{"change": change, "count": count} for change, count in sorted(
            totals.code_changes.items(), key=lambda kv: (-kv[1], kv[0]))[:_TOP_CODE_CHANGES]],
        "problems": dict(sorted(problems.items())),
    }


def _urgency(indicator: str) -> int:
    return {"info": 1, "warning": 2, "critical": 3}.get(indicator, 0)


def _write_outputs(out: Path, work_dir: Path, files: list[str], partitions: int,
                   summary: dict[str, Any]) -> None:
    outputs = [partition_outputs(str(work_dir), k) for k in range(partitions)]
    write_cards([o["cards"] for o in outputs], out / "cards.ndjson")
    write_findings([o["findings"] for o in outputs], out / "findings.csv",
                   out / "findings.parquet")
    write_errors(sorted(work_dir.glob("problems-read-*.ndjson")) + [o["problems"]
                                                                   for o in outputs],
                 files, out / "errors.ndjson")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render_report(summary), encoding="utf-8")
