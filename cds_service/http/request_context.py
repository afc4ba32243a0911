"""What the HTTP layer learns about one request, in one typed record: its id and start, then
the service, hook and hookInstance of a hook call, the rule ids and cards it answered, the
outcomes of a feedback call, and the client its JWT named (or the check that refused it).

The views write the record; the request log and the metrics read it at the end of the request
and pass the values on as arguments (``logs``, ``metrics`` know nothing of Flask). Ids and
outcomes only: never a body, a header value, a token or anything from the patient's record.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

from flask import Flask, g, request

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")


@dataclass
class RequestContext:
    request_id: str
    started: float  # time.perf_counter() when the request began
    endpoint: str  # the Flask endpoint, "unmatched" when no route matched
    service_id: str | None = None  # the service called, once it is known to exist
    hook: str | None = None
    hook_instance: str | None = None
    rule_ids: list[str] = field(default_factory=list)
    cards: list[dict] = field(default_factory=list)
    feedback_outcomes: list[str] = field(default_factory=list)
    client_issuer: str | None = None  # from a verified client JWT
    client_tenant: str | None = None
    auth_failure: str | None = None  # the check a client JWT failed
    metrics_endpoint: str | None = None  # set while the request counts as in progress

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def offered_or_new_request_id() -> str:
    """The client's ``X-Request-ID`` when it is a short token of safe characters, else a new
    one."""
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    return offered if _SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def begin() -> RequestContext:
    context = RequestContext(request_id=offered_or_new_request_id(),
                             started=time.perf_counter(),
                             endpoint=request.endpoint or "unmatched")
    g.request_context = context
    return context


def current() -> RequestContext:
    """This request's record (begun now if no before-request function ran)."""
    return g.get("request_context") or begin()


def init_app(app: Flask) -> None:
    def _begin() -> None:  # a before_request function that returns something answers
        begin()

    # First of all before_request functions: one that answers early (a 401) still finds the
    # record begun.
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
