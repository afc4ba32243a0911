"""The metrics of every HTTP request: counted in progress from its start, then counted and timed
by endpoint, service and hook, with the cards of a hook call and the outcomes of a feedback
call, from the request's record (``request_context.py``) into ``cds_service.metrics``."""

from __future__ import annotations

from flask import Flask, Response, request

from .. import metrics
from ..hooks import SERVICES
from . import request_context


def init_app(app: Flask) -> None:
    def _start() -> None:
        context = request_context.current()
        context.metrics_endpoint = context.endpoint
        metrics.request_started(context.metrics_endpoint)

    # Right after the record is begun (request_context.init_app), before every other
    # before_request function: one that answers early (a 401) still gets counted.
    app.before_request_funcs.setdefault(None, []).insert(1, _start)

    @app.after_request
    def _record(response: Response) -> Response:
        context = request_context.current()
        endpoint, context.metrics_endpoint = context.metrics_endpoint, None
        if endpoint is None:
            return response
        # only the id of a service that exists, never an arbitrary path segment
        service = SERVICES.get(context.service_id or
                               (request.view_args or {}).get("service_id", ""))
        service_id, hook = (service.id, service.hook) if service else ("", "")
        metrics.request_finished(endpoint, service_id, hook, response.status_code,
                                 context.elapsed())
        if response.status_code == 200:
            if context.cards:
                metrics.record_cards(service_id, hook, context.cards)
            if context.feedback_outcomes:
                metrics.record_feedback(service_id, context.feedback_outcomes)
        return response
