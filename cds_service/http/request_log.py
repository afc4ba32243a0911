"""One structured log line per request, with a request id, from the request's record
(``request_context.py``).

The line holds ids and outcomes only: the request id (the client's ``X-Request-ID`` when it is
a short token of safe characters, else a new one; echoed in the response), the route template
(never the raw path, which a confused client may fill with anything), the service id, hook and
hookInstance, the status, the duration, the rule ids that fired and the number of cards, and the
client's issuer once its JWT is verified (or the check that failed). Never a body, a header
value, a token or anything from the patient's record.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, request

from .request_context import REQUEST_ID_HEADER, current

log = logging.getLogger("cds_service.request")


def init_app(app: Flask) -> None:
    @app.after_request
    def _finish(response: Response) -> Response:
        context = current()
        response.headers[REQUEST_ID_HEADER] = context.request_id
        if request.method == "OPTIONS":
            return response  # CORS preflights: no work done, not worth a line
        rule = request.url_rule
        entry = {
            "event": "request",
            "request_id": context.request_id,
            "method": request.method,
            "route": rule.rule if rule is not None else None,
            "service_id": context.service_id,
            "hook": context.hook,
            "hookInstance": context.hook_instance,
            "status": response.status_code,
            "duration_ms": round(context.elapsed() * 1000, 2),
            "rule_ids": sorted(set(context.rule_ids)),
            "card_count": len(context.cards),
        }
        if context.client_issuer:
            entry["client_iss"] = context.client_issuer
        if context.auth_failure:
            entry["auth_failure"] = context.auth_failure
        level = logging.WARNING if response.status_code >= 500 else logging.INFO
        log.log(level, "request", extra=entry)
        return response
