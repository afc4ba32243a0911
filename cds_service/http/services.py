"""POST /cds-services/{id} (a hook call) and POST /cds-services/{id}/feedback."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g

from ..errors import CdsError
from ..feedback import parse_feedback
from ..hooks import SERVICES
from .errors import json_response, read_json_body
from .rule_pages import rule_pages_base

bp = Blueprint("services", __name__)


def card_evidence(result) -> dict[str, list[dict]]:
    """Each card's evidence as the feedback store keeps it: references and offsets only."""
    return {card["uuid"]: [item.as_reference() for item in finding.evidence]
            for finding, card in zip(result.findings, result.response["cards"], strict=True)
            if finding.evidence}


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    if service_id not in SERVICES:
        raise CdsError(404, f"No CDS service with id '{service_id}'.")
    g.service_id = service_id
    body = read_json_body()
    state = current_app.extensions["cds"]
    result = state.pipeline.evaluate(service_id, body, rule_pages=rule_pages_base())
    # read by the request log and the metrics: ids only, never patient data
    g.hook = result.request.service.hook
    g.hook_instance = result.request.hook_instance
    g.rule_ids = result.rule_ids
    g.cards = result.response["cards"]
    state.feedback_store.record_cards(
        service_id, result.response["cards"], hook=g.hook, hook_instance=g.hook_instance,
        patient_id=result.request.patient_id, evidence=card_evidence(result))
    return json_response(result.response)


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    if service_id not in SERVICES:
        raise CdsError(404, f"No CDS service with id '{service_id}'.")
    g.service_id = service_id
    items = parse_feedback(read_json_body())
    stored = current_app.extensions["cds"].feedback_store.record_feedback(service_id, items)
    g.feedback_outcomes = [item.outcome for item in items]  # for the metrics
    return json_response({"received": len(items), "stored": stored})
