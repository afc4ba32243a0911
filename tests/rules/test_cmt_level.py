"""[cmt-level]: a chiropractic manipulation code (98940-98942) above the number of spinal
regions documented. Its ``evaluate(facts, terminology)`` on a table of orders and documented
regions, then whole requests through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import cmt_level
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
from tests.rules.facts_tables import discharge_facts, new_codes, order_facts, terminology
from tests.rules.procedure_cards import LBP, actions, cards_of


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("hook, code, icd, expected", [
    pytest.param("order-sign", "98941", ["M99.03", "M99.04"], [("98941", ["98940"])],
                 id="3-4-regions-for-2"),
    pytest.param("order-sign", "98942", ["M99.01", "M99.02", "M99.03"], [("98942", ["98941"])],
                 id="5-regions-for-3"),
    pytest.param("order-sign", "98942", ["M99.03"], [("98942", ["98940"])],
                 id="5-regions-for-1"),
    pytest.param("encounter-discharge", "98941", ["M99.03"], [("98941", ["98940"])],
                 id="performed"),
    pytest.param("order-sign", "98940", ["M99.03"], [], id="1-2-regions-for-1"),
    pytest.param("order-sign", "98941", ["M99.01", "M99.02", "M99.03"], [],
                 id="3-4-regions-for-3"),
    pytest.param("order-sign", "98942", ["M54.9"], [], id="no-region-documented"),
])
def test_evaluate_on_a_table_of_orders_and_regions(hook, code, icd, expected):
    facts = (order_facts([code], icd, "commercial") if hook == "order-sign"
             else discharge_facts([code], icd))
    found = cmt_level.evaluate(facts, terminology())
    assert {f.rule_id for f in found} <= {cmt_level.RULE_ID}
    assert [(f.params["code"], new_codes(f)) for f in found] == expected


# -- whole requests, through the pipeline to the card ---------------------------------------------
@pytest.mark.parametrize(
    "code, icd, expected",
    [("98941", ["M99.03", "M99.04"], "98940"),
     ("98942", ["M99.01", "M99.02", "M99.03"], "98941"),
     ("98942", ["M99.03"], "98940")],
)
def test_level_above_the_documented_regions(pipeline, code, icd, expected):
    conditions = [condition(f"c{i}", c) for i, c in enumerate(icd)]
    body = order_sign([service_request("sr1", code, text="CMT")], conditions, [commercial()])
    [card] = cards_of(pipeline, body, "cmt-level")
    assert card["indicator"] == "warning"
    assert code in card["summary"] and f"document {len(icd)}" in card["summary"]
    [action] = actions(card)
    assert action["type"] == "update"
    resource = action["resource"]
    assert resource["id"] == "sr1"
    assert [c["code"] for c in resource["code"]["coding"]] == [expected]
    assert resource["code"]["text"] != "CMT"


@pytest.mark.parametrize(
    "code, conditions",
    [("98940", [condition("c1", "M99.03")]),
     ("98940", [condition("c1", "M99.03"), condition("c2", "M99.04")]),
     ("98941", [condition("c1", "M99.01"), condition("c2", "M99.02"), condition("c3", "M99.03")]),
     ("98942", [condition(f"c{i}", f"M99.0{i}") for i in range(1, 6)]),
     # regions from body sites: lumbar (code), sacral (code), pelvic (text)
     ("98941", [condition("c1", "M54.50", sites=[LUMBAR_SITE, SACRAL_SITE],
                          site_texts=["Left sacroiliac joint"])]),
     # nothing documented about regions: nothing to count
     ("98942", [condition("c1", "M54.9")])],
)
def test_level_matching_the_regions_is_quiet(pipeline, code, conditions):
    body = discharge([procedure("p1", code)], conditions, [medicare()])
    assert cards_of(pipeline, body, "cmt-level") == []


def test_level_check_applies_without_coverage_and_to_performed_procedures(pipeline):
    body = discharge([procedure("p1", "98941")], [LBP])
    [card] = cards_of(pipeline, body, "cmt-level")
    [action] = actions(card)
    assert action["resource"]["resourceType"] == "Procedure"
    assert action["description"] == "Change the procedure from 98941 to 98940"
