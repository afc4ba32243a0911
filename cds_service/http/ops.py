"""Operations endpoints: liveness, readiness, Prometheus metrics and the OpenAPI document.

``GET /healthz`` answers while the process can serve HTTP (for a container's HEALTHCHECK or a
liveness probe); ``GET /readyz`` answers 200 only when every dependency a hook call needs is in
place (for a load balancer or a readiness probe), 503 otherwise, naming the failed check but
never an error's text (a database error can hold its URL). The ``icd10cm`` check lists the
ICD-10-CM releases loaded and says ``warn`` when none covers today: the service still answers
(with the ``codeset-outdated`` card), so that is not a reason to take it out of rotation.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, current_app

from .. import metrics
from ..rules._registry import RULES
from ..terminology.releases import fiscal_year_of
from .errors import json_response

bp = Blueprint("ops", __name__)
log = logging.getLogger("cds_service.http")

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.json"


@bp.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "up"})


@bp.get("/readyz")
def readyz() -> Response:
    state = current_app.extensions["cds"]
    checks = {
        "valuesets": _check_valuesets(state),
        "cardTemplates": _check_card_templates(state),
        "icd10cm": _check_icd10cm_releases(state),
    }
    database = _check_database(state)
    if database is not None:
        checks["database"] = database
    ready = all(check["status"] != "fail" for check in checks.values())
    return json_response({"status": "ready" if ready else "not-ready", "checks": checks},
                         200 if ready else 503)


def _check_valuesets(state) -> dict:
    store = state.terminology.store
    count = len(store.valuesets) + len(store.concept_maps)
    if count == 0 and not store.billable_periods:
        return {"status": "fail", "detail": "no ValueSets or ConceptMaps loaded"}
    return {"status": "pass", "valueSets": len(store.valuesets),
            "conceptMaps": len(store.concept_maps)}


def _check_icd10cm_releases(state) -> dict:
    releases = state.terminology.icd.releases
    today = datetime.now(UTC).date()
    covered = releases.covers(today)
    metrics.record_icd10cm_releases(releases, today)
    check = {"status": "pass" if covered else "warn", "today": today.isoformat(),
             "todayCovered": covered,
             "inForceToday": releases.in_force(today).label,
             "releases": [r.describe() for r in releases.releases]}
    if not covered:
        check["detail"] = (f"no loaded ICD-10-CM release covers today: CDC ICD-10-CM "
                           f"FY{fiscal_year_of(today)} applies (cds-service codeset add)")
    return check


def _check_card_templates(state) -> dict:
    templates = state.pipeline.renderer.templates
    missing = sorted(rule.id for rule in RULES if rule.id not in templates)
    if missing:
        return {"status": "fail", "detail": f"no compiled template for {', '.join(missing)}"}
    return {"status": "pass", "templates": len(templates)}


def _check_database(state) -> dict | None:
    """The feedback store's ``ping()``, where the store has one (a database-backed store)."""
    ping = getattr(state.feedback_store, "ping", None)
    if ping is None:
        return None
    try:
        result = ping()
    except Exception as exc:  # any driver error means "not reachable"; its text stays out
        log.warning("readiness: database ping failed", extra={"error_type": type(exc).__name__})
        return {"status": "fail", "detail": f"database not reachable ({type(exc).__name__})"}
    if result is False:
        return {"status": "fail", "detail": "database not reachable"}
    return {"status": "pass"}


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    state = current_app.extensions["cds"]
    metrics.record_icd10cm_releases(state.terminology.icd.releases, datetime.now(UTC).date())
    body, content_type = metrics.exposition()
    return Response(body, status=200, headers={"Content-Type": content_type})


@cache
def _openapi_text() -> str:
    return OPENAPI_PATH.read_text("utf-8")


@bp.get("/openapi.json")
def openapi() -> Response:
    return Response(_openapi_text(), status=200, mimetype="application/json")
