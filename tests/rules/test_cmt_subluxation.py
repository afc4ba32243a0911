"""[cmt-subluxation]: Medicare pays chiropractic manipulation only for a documented
subluxation (M99.0-). Its ``evaluate(facts, terminology)`` on a table of orders, diagnoses and
payers, then whole requests through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import cmt_subluxation
from cds_service.terminology import ICD10CM_SYSTEM
from tests.procedure_builders import (
    LUMBAR_SITE,
    SACRAL_SITE,
    commercial,
    condition,
    discharge,
    medicare,
    order_sign,
    procedure,
    service_request,
)
from tests.rules.facts_tables import new_codes, order_facts, terminology
from tests.rules.procedure_cards import LBP, actions, cards_of


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("codes, icd, payer, expected", [
    pytest.param(["98940"], ["M54.50"], "medicare", [["M99.03"]], id="no-subluxation"),
    pytest.param(["98941"], ["M54.9"], "medicare", [["M99.03"]], id="lumbar-by-default"),
    pytest.param(["98940"], ["M54.50", "M99.03"], "medicare", [], id="subluxation-coded"),
    pytest.param(["98940"], ["M99.05"], "medicare", [], id="another-region-subluxation"),
    pytest.param(["98940"], ["M54.50"], "commercial", [], id="commercial"),
    pytest.param(["98940"], ["M54.50"], None, [], id="no-coverage"),
    pytest.param(["97110"], ["M54.50"], "medicare", [], id="not-a-manipulation"),
])
def test_evaluate_on_a_table_of_orders_and_payers(codes, icd, payer, expected):
    found = cmt_subluxation.evaluate(order_facts(codes, icd, payer), terminology())
    assert {f.rule_id for f in found} <= {cmt_subluxation.RULE_ID}
    assert [new_codes(f) for f in found] == expected


# -- whole requests, through the pipeline to the card ---------------------------------------------
def test_cmt_without_subluxation_suggests_creating_m9903(pipeline):
    body = order_sign([service_request("sr1", "98940")], [LBP], [medicare()])
    [card] = cards_of(pipeline, body, "cmt-subluxation")
    assert card["indicator"] == "warning"
    assert "AT" in card["summary"]
    assert "AT" in card["detail"] and "Maintenance care is not covered" in card["detail"]
    [action] = actions(card)
    assert action["type"] == "create"
    condition_ = action["resource"]
    assert condition_["resourceType"] == "Condition"
    assert condition_["code"]["coding"] == [{
        "system": ICD10CM_SYSTEM, "code": "M99.03",
        "display": "Segmental and somatic dysfunction of lumbar region"}]
    assert condition_["subject"] == {"reference": "Patient/p1"}
    assert condition_["encounter"] == {"reference": "Encounter/e1"}
    assert "id" not in condition_


def test_cmt_subluxation_offers_each_documented_region(pipeline):
    conditions = [condition("c1", "M54.50", sites=[LUMBAR_SITE, SACRAL_SITE])]
    body = discharge([procedure("p1", "98941")], conditions, [medicare()])
    [card] = cards_of(pipeline, body, "cmt-subluxation")
    assert card["selectionBehavior"] == "any"
    created = [a["resource"]["code"]["coding"][0]["code"] for a in actions(card)]
    assert created == ["M99.03", "M99.04"]


def test_cmt_subluxation_defaults_to_lumbar_when_no_region_is_documented(pipeline):
    body = order_sign([service_request("sr1", "98940")], [condition("c1", "M54.9")],
                      [medicare()])
    [card] = cards_of(pipeline, body, "cmt-subluxation")
    assert [a["resource"]["code"]["coding"][0]["code"] for a in actions(card)] == ["M99.03"]
    assert "No spinal region is documented" in card["detail"]


@pytest.mark.parametrize(
    "conditions, covs, code",
    [([LBP, condition("c2", "M99.03")], [medicare()], "98940"),   # subluxation present
     ([condition("c1", "M99.05", "M54.50")], [medicare()], "98940"),
     ([LBP], [commercial()], "98940"),
     ([LBP], None, "98940"),
     ([LBP], [medicare()], "97110")],                               # not a manipulation
)
def test_cmt_subluxation_quiet(pipeline, conditions, covs, code):
    body = order_sign([service_request("sr1", code)], conditions, covs)
    assert cards_of(pipeline, body, "cmt-subluxation") == []
