"""Error responses as FHIR OperationOutcome JSON, and strict JSON request bodies.

Nothing a client sends may produce a 500 or a stack trace: every werkzeug HTTP error and every
CdsError is rendered here; anything else is logged (without the request body) and answered 500
with a generic message.
"""

from __future__ import annotations

import json
import logging
import math

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..deadline import BudgetExceeded
from ..errors import CdsError, bad_request, operation_outcome
from .request_context import current

log = logging.getLogger("cds_service.http")

_JSON_TYPES = ("application/json", "application/fhir+json")


def json_response(payload: dict, status: int = 200) -> Response:
    try:
        body = orjson.dumps(payload)
    except orjson.JSONEncodeError:  # a lone surrogate the client sent as "\ud800": send it escaped
        body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return Response(body, status=status, mimetype="application/json")


def error_response(status: int, message: str, field: str | None = None) -> Response:
    return json_response(operation_outcome(status, message, field), status)


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):  # the common case costs one comparison, not a Python loop
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise bad_request(f"The JSON body repeats the key '{key[:40]}' in one object.")
            seen.add(key)
    return result


def _reject_constant(name: str) -> float:
    raise bad_request(f"The request body is not valid JSON: {name} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise bad_request("The request body holds a number too large for a JSON number "
                          "(a double).")
    return value


def read_json_body() -> object:
    """The request body as JSON: UTF-8, no duplicate keys, within the configured size."""
    content_type = (request.mimetype or "").lower()
    if content_type and content_type not in _JSON_TYPES and not content_type.endswith("+json"):
        raise CdsError(415, "The request body must be JSON (Content-Type: application/json).")
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise CdsError(413, "The request body is larger than this service accepts.") from None
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body is read up to the limit and silently cut there by werkzeug: one that
        # reaches it is too large (not "invalid JSON"), and nothing more of it is read.
        raise CdsError(413, "The request body is larger than this service accepts.")
    return parse_json_bytes(raw)


def parse_json_bytes(raw: bytes) -> object:
    """Strict JSON (RFC 8259): UTF-8, no duplicate keys, no NaN or Infinity, no number beyond a
    double, bounded nesting; a 400 naming the problem."""
    if not raw:
        raise bad_request("The request body is empty; a JSON object is required.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("The request body is not valid UTF-8.") from None
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates,
                          parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise bad_request("The JSON body is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError; a non-finite number
        position = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        raise bad_request(f"The request body is not valid JSON{position}.") from None


def init_app(app: Flask) -> None:
    @app.errorhandler(CdsError)
    def _cds_error(exc: CdsError) -> Response:
        if isinstance(exc, BudgetExceeded):
            context = current()
            # the stage and the times only: nothing of the request
            log.warning("hook call over its time budget",
                        extra={"event": "budget_exceeded", "stage": exc.stage,
                               "elapsed_ms": round(exc.elapsed * 1000, 1),
                               "budget_ms": round(exc.budget * 1000, 1),
                               "request_id": context.request_id,
                               "service_id": context.service_id})
        return json_response(exc.to_operation_outcome(), exc.status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        if isinstance(exc, RequestEntityTooLarge):
            message = "The request body is larger than this service accepts."
        elif status == 404:
            message = "No such endpoint."
        elif status == 405:
            message = f"Method {request.method} is not allowed on this endpoint."
        else:
            message = exc.description or exc.name
        response = error_response(status, message)
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.error("unhandled error", extra={"error_type": type(exc).__name__}, exc_info=False)
        return error_response(500, "The service could not process this request.")
