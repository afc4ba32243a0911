"""One structured log line per request, with a request id.

The line holds ids and outcomes only: the request id (the client's ``X-Request-ID`` when it is
a short token of safe characters, else a new one; echoed in the response), the route template
(never the raw path, which a confused client may fill with anything), the service id, hook and
hookInstance, the status, the duration, the rule ids that fired and the number of cards, and the
client's issuer once its JWT is verified (or the check that failed). Never a body, a header
value, a token or anything from the patient's record.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

log = logging.getLogger("cds_service.request")

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")


def _request_id() -> str:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    return offered if _SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.request_id = _request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id") or _request_id()
        response.headers[REQUEST_ID_HEADER] = request_id
        if request.method == "OPTIONS":
            return response  # CORS preflights: no work done, not worth a line
        started = g.get("request_started")
        rule = request.url_rule
        entry = {
            "event": "request",
            "request_id": request_id,
            "method": request.method,
            "route": rule.rule if rule is not None else None,
            "service_id": g.get("service_id"),
            "hook": g.get("hook"),
            "hookInstance": g.get("hook_instance"),
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "rule_ids": sorted(set(g.get("rule_ids") or ())),
            "card_count": len(g.get("cards") or ()),
        }
        if g.get("client_issuer"):
            entry["client_iss"] = g.client_issuer
        if g.get("auth_failure"):
            entry["auth_failure"] = g.auth_failure
        level = logging.WARNING if response.status_code >= 500 else logging.INFO
        log.log(level, "request", extra=entry)
        return response
