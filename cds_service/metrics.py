"""Prometheus metrics, correct across gunicorn's worker processes.

``cds-service serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before gunicorn
forks (see ``server.py``): every worker then writes its samples to files there and ``GET
/metrics`` adds up the files of all workers, live and dead, so one scrape sees the whole
service. Without that variable (tests, ``flask run``) the process's own registry is served.

prometheus_client picks its storage (files or memory) when it is first imported, so this module
imports it only when a metric is first touched: in a worker, after ``server.py`` has set the
variable. Label values are ids and outcomes only, never patient data: the service id, the hook,
the HTTP status, the rule id, the card indicator and fixed outcome words.

Other modules record through the functions here, e.g. ``record_fhir_fetch("timeout")``; the
HTTP layer passes each request's values in (``http/request_metrics.py``): this module knows
nothing of Flask or of the services.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_OUTCOME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# Request latency buckets: a hook call answers in milliseconds, FHIR fetches add seconds.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class _Metrics:
    requests: Any
    latency: Any
    in_progress: Any
    cards: Any
    fhir_fetches: Any
    fhir_fetch_latency: Any
    feedback: Any
    icd10cm_today_covered: Any
    icd10cm_release: Any


_created: _Metrics | None = None
_create_lock = threading.Lock()


def _metrics() -> _Metrics:
    """The metric objects, made on first use (once: a worker's threads race for it)."""
    global _created
    if _created is None:
        with _create_lock:
            if _created is None:
                _created = _create()
    return _created


def _create() -> _Metrics:
    from prometheus_client import Counter, Gauge, Histogram

    return _Metrics(
        requests=Counter("cds_http_requests", "HTTP requests answered",
                         ["endpoint", "service", "hook", "status"]),
        latency=Histogram("cds_http_request_duration_seconds",
                          "Time from request start to response, by endpoint",
                          ["endpoint", "service", "hook"], buckets=_LATENCY_BUCKETS),
        in_progress=Gauge("cds_http_requests_in_progress", "HTTP requests being handled",
                          ["endpoint"], multiprocess_mode="livesum"),
        cards=Counter("cds_cards", "Cards returned by hook calls",
                      ["service", "hook", "rule_id", "indicator"]),
        fhir_fetches=Counter("cds_fhir_fetches", "FHIR queries the service ran itself, by outcome",
                             ["outcome"]),
        fhir_fetch_latency=Histogram("cds_fhir_fetch_duration_seconds",
                                     "Time one FHIR query took", ["outcome"],
                                     buckets=_LATENCY_BUCKETS),
        feedback=Counter("cds_feedback", "Feedback items received, by outcome",
                         ["service", "outcome"]),
        # set by the worker that answers a scrape or /readyz; the most recent value of a live
        # worker wins (a worker that ended, e.g. after a reload, no longer counts)
        icd10cm_today_covered=Gauge(
            "cds_icd10cm_today_covered",
            "1 when a loaded ICD-10-CM release covers today's date of service, else 0",
            multiprocess_mode="livemostrecent"),
        icd10cm_release=Gauge(
            "cds_icd10cm_release_window_end_timestamp_seconds",
            "Each loaded ICD-10-CM release (by fiscal year and effective date): the end of its "
            "window (September 30, 00:00 UTC) as a Unix time",
            ["fiscal_year", "effective"], multiprocess_mode="livemostrecent"),
    )


def _word(value: object) -> str:
    """A label value from a fixed vocabulary: anything else becomes 'other'."""
    return value if isinstance(value, str) and _OUTCOME.fullmatch(value) else "other"


def request_started(endpoint: str) -> None:
    """Count a request in progress on ``endpoint`` (until ``request_finished``)."""
    _metrics().in_progress.labels(endpoint).inc()


def request_finished(endpoint: str, service_id: str, hook: str, status: int,
                     seconds: float) -> None:
    """Count and time one answered request (``service_id`` and ``hook``: those of a service
    that exists, else empty)."""
    metrics = _metrics()
    metrics.in_progress.labels(endpoint).dec()
    metrics.requests.labels(endpoint, service_id, hook, str(status)).inc()
    metrics.latency.labels(endpoint, service_id, hook).observe(seconds)


def record_fhir_fetch(outcome: str, seconds: float | None = None) -> None:
    """Count one FHIR query (outcome: a short word such as ok, not_found, timeout, error)."""
    outcome = _word(outcome)
    metrics = _metrics()
    metrics.fhir_fetches.labels(outcome).inc()
    if seconds is not None:
        metrics.fhir_fetch_latency.labels(outcome).observe(max(0.0, seconds))


def record_feedback(service_id: str, outcomes: list[str]) -> None:
    feedback = _metrics().feedback
    for outcome in outcomes:
        feedback.labels(_word(service_id), _word(outcome)).inc()


def record_cards(service_id: str, hook: str, cards: list[dict]) -> None:
    counter = _metrics().cards
    for card in cards:
        rule_id = card.get("source", {}).get("topic", {}).get("code")
        counter.labels(_word(service_id), _word(hook), _word(rule_id),
                       _word(card.get("indicator"))).inc()


def record_icd10cm_releases(releases, today) -> None:
    """The ICD-10-CM gauges, from this worker's loaded releases (``releases.ReleaseSet``)."""
    metrics = _metrics()
    metrics.icd10cm_today_covered.set(1 if releases.covers(today) else 0)
    for release in releases.releases:
        last_day = datetime.combine(release.until, datetime.min.time(), UTC)
        metrics.icd10cm_release.labels(str(release.fiscal_year),
                                       release.effective.isoformat()).set(last_day.timestamp())


def exposition() -> tuple[bytes, str]:
    """The text exposition of every worker's metrics (multiprocess) or this process's."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    _metrics()  # so that a scrape before the first request still lists the metric families
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_worker_dead(pid: int) -> None:
    """gunicorn's child_exit hook: drop a dead worker's live gauges (its counters stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
