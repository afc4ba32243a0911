"""GET /cds-services: the discovery document, generated from the service definitions."""

from __future__ import annotations

from flask import Blueprint, Response

from ..hooks import SERVICES
from .errors import json_response

bp = Blueprint("discovery", __name__)


@bp.get("/cds-services")
def discovery() -> Response:
    return json_response({"services": [s.discovery_entry() for s in SERVICES.values()]})
