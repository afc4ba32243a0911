"""Whole-request helpers for the procedure and payer rules' card tests: the cards of a request
(tests/procedure_builders.py) through the pipeline in process, each checked for its shape."""

from __future__ import annotations

from tests.contract import check_card_shape
from tests.procedure_builders import DISCHARGE, LUMBAR_SITE, ORDER_SIGN, condition

LBP = condition("c1", "M54.50", sites=[LUMBAR_SITE])


def run(pipeline, body) -> list[dict]:
    service = ORDER_SIGN if body["hook"] == "order-sign" else DISCHARGE
    cards = pipeline.evaluate(service, body).response["cards"]
    for card in cards:
        assert check_card_shape(card) == [], card
    return cards


def cards_of(pipeline, body, rule_id) -> list[dict]:
    return [c for c in run(pipeline, body) if c["source"]["topic"]["code"] == rule_id]


def actions(card) -> list[dict]:
    return [a for s in card.get("suggestions", []) for a in s["actions"]]
