"""A CDS Hooks 2.0 service that checks low back pain coding (ICD-10-CM, CPT/HCPCS, payer rules).

``create_app`` builds the Flask application; the knowledge (ValueSets, card templates) is loaded
once here, so that a pre-forking server shares it between workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from flask_cors import CORS

from .cards import CardRenderer
from .feedback import MemoryFeedbackStore
from .hooks import HookPipeline
from .settings import Settings
from .terminology import Terminology, get_terminology

__all__ = ["create_app"]


@dataclass
class ServiceState:
    settings: Settings
    terminology: Terminology
    pipeline: HookPipeline
    feedback_store: MemoryFeedbackStore


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    terminology = get_terminology()
    pipeline = HookPipeline(terminology, CardRenderer())
    app.extensions["cds"] = ServiceState(
        settings=settings,
        terminology=terminology,
        pipeline=pipeline,
        feedback_store=MemoryFeedbackStore(settings.feedback_card_capacity),
    )
    # The CDS Hooks sandbox and other browser clients call from another origin.
    CORS(app, origins=list(settings.cors_origins), allow_headers=["Authorization", "Content-Type"],
         methods=["GET", "POST", "OPTIONS"], max_age=3600)

    from . import http

    http.init_app(app)
    return app
