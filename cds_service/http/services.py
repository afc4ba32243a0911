"""POST /cds-services/{id} (a hook call) and POST /cds-services/{id}/feedback."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from ..deadline import budget, enter_stage
from ..errors import CdsError
from ..feedback import parse_feedback
from ..hooks import SERVICES
from .errors import json_response, read_json_body
from .request_context import current
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
    context = current()
    context.service_id = service_id
    state = current_app.extensions["cds"]
    # the budget counts from the request's start (client authentication included)
    with budget(state.settings.request_budget_seconds, context.started):
        body = read_json_body()
        result = state.pipeline.evaluate(service_id, body, rule_pages=rule_pages_base())
        # read by the request log and the metrics: ids only, never patient data
        context.hook = result.request.service.hook
        context.hook_instance = result.request.hook_instance
        context.rule_ids = result.rule_ids
        context.cards = result.response["cards"]
        enter_stage("store")  # the last check: past it, the cards are stored and answered
        state.feedback_store.record_cards(service_id, result.response["cards"],
                                          hook=context.hook,
                                          hook_instance=context.hook_instance,
                                          patient_id=result.request.patient_id,
                                          client_issuer=context.client_issuer,
                                          client_tenant=context.client_tenant,
                                          evidence=card_evidence(result))
    return json_response(result.response)


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    if service_id not in SERVICES:
        raise CdsError(404, f"No CDS service with id '{service_id}'.")
    context = current()
    context.service_id = service_id
    state = current_app.extensions["cds"]
    items = parse_feedback(read_json_body(), state.settings)
    # a card is answered for only by the client (issuer, tenant) it was issued to
    stored = state.feedback_store.record_feedback(
        service_id, items, client_issuer=context.client_issuer,
        client_tenant=context.client_tenant)
    context.feedback_outcomes = [item.outcome for item in items]  # for the metrics
    return json_response({"received": len(items), "stored": stored})
