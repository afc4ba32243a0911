"""A CDS Hooks 2.0 service that checks low back pain coding (ICD-10-CM, CPT/HCPCS, payer rules).

``create_app`` builds the Flask application; the knowledge (ValueSets, card templates) is loaded
once here, so that a pre-forking server shares it between workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask
from flask_cors import CORS

from .cards import CardRenderer
from .fhir.client import FhirFetcher
from .hooks import HookPipeline
from .hooks.prefetch_keys import PREFETCH_KEYS
from .metrics import record_fhir_fetch
from .settings import Settings
from .terminology import Terminology, get_terminology

if TYPE_CHECKING:  # SQLAlchemy is imported by create_app only
    from .store.feedback_store import SqlFeedbackStore

__all__ = ["build_pipeline", "create_app"]


@dataclass
class ServiceState:
    settings: Settings
    terminology: Terminology
    pipeline: HookPipeline
    feedback_store: SqlFeedbackStore


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    from .store.feedback_store import create_feedback_store

    pipeline = build_pipeline(settings)
    # the service answers for today's dates: say at start-up when no loaded release covers
    # today (offline commands judge the dates they are given, and the cards say so)
    pipeline.terminology.warn_if_outdated()
    app.extensions["cds"] = ServiceState(
        settings=settings,
        terminology=pipeline.terminology,
        pipeline=pipeline,
        # opened and migrated by server.run before the workers fork, else on first use
        feedback_store=create_feedback_store(settings),
    )
    # The CDS Hooks sandbox and other browser clients call from another origin.
    CORS(app, origins=list(settings.cors_origins), allow_headers=["Authorization", "Content-Type"],
         methods=["GET", "POST", "OPTIONS"], max_age=3600)

    from . import http

    http.init_app(app)
    return app


def build_pipeline(settings: Settings) -> HookPipeline:
    """The hook pipeline alone (terminology, rules, cards, FHIR fallback), without the HTTP app:
    what `cds-service evaluate` runs, with no client authentication or feedback store."""
    return HookPipeline(get_terminology(settings.data_dir), CardRenderer(),
                        _fhir_fetcher(settings))


def _fhir_fetcher(settings: Settings) -> FhirFetcher | None:
    """The FHIR server fallback, or None (fetching off) while no server is allowed."""
    if not settings.fhir_allowed_servers:
        return None
    return FhirFetcher(
        settings.fhir_allowed_servers,
        connect_timeout=settings.fhir_connect_timeout,
        read_timeout=settings.fhir_read_timeout,
        deadline=settings.fhir_deadline,
        max_pages=settings.fhir_max_pages,
        max_resources=settings.fhir_max_resources,
        max_response_bytes=settings.fhir_max_response_bytes,
        cache_ttl=settings.fhir_cache_ttl,
        cache_size=settings.fhir_cache_size,
        # requests in flight to one FHIR server: every query of a hook call, for each of a
        # worker's request threads
        max_workers=len(PREFETCH_KEYS) * settings.threads,
        record=record_fhir_fetch,
    )
