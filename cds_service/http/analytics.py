"""Override analytics over HTTP: ``GET /analytics/rules`` (JSON, behind the same client
authentication as the hooks) and ``GET /analytics``, a page with a bar chart of acceptance by
rule, whose script and style are served from this package (no CDN).

The page itself holds no data (it is open); its script reads ``/analytics/rules``. With client
authentication on, that needs a CDS client's JWT for ``<base>/analytics/rules``: a browser has
none, so there the page says so and ``cds-service report`` prints the same numbers.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, current_app, request

from ..errors import bad_request
from ..store.report import parse_since, rule_report
from .client_auth import authenticate, unauthorized
from .errors import json_response
from .request_context import current

log = logging.getLogger("cds_service.http")

STATIC = Path(__file__).resolve().parent / "analytics_static"

bp = Blueprint("analytics", __name__, static_folder=str(STATIC),
               static_url_path="/analytics/static")

#: Endpoints that need the hooks' client authentication. ``client_auth`` protects the hook
#: endpoints app-wide; the check below applies the same verifier to these, unless the app-wide
#: check already authenticated the request (if client_auth ever lists them too).
PROTECTED_ENDPOINTS = frozenset({"analytics.rules"})

_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@bp.before_request
def require_client_auth() -> Response | None:
    """The hooks' client authentication (``client_auth``) on PROTECTED_ENDPOINTS."""
    if request.method == "OPTIONS" or request.endpoint not in PROTECTED_ENDPOINTS:
        return None
    context = current()
    if context.client_issuer is not None:
        return None  # the app-wide check verified this request's token already
    if "cds_auth" not in current_app.extensions:  # auth not set up on this app: fail closed
        log.error("analytics refused: client authentication is not set up on this app")
        return unauthorized()
    verifier = current_app.extensions["cds_auth"]
    if verifier is None:  # CDS_AUTH_DISABLED=true
        return None
    return authenticate(verifier, failure_log=log)


@bp.get("/analytics/rules")
def rules() -> Response:
    since_text = request.args.get("since", "").strip()
    try:
        since = parse_since(since_text) if since_text else None
    except ValueError as exc:
        raise bad_request(f"'since' {exc}.", "since") from None
    state = current_app.extensions["cds"]
    report = rule_report(state.feedback_store, since, state.pipeline.renderer)
    response = json_response(report)
    response.headers["Cache-Control"] = "no-store"
    return response


@cache
def _page() -> bytes:
    return (STATIC / "analytics.html").read_bytes()


@bp.get("/analytics")
def page() -> Response:
    return Response(_page(), status=200, mimetype="text/html", headers=_PAGE_HEADERS)
