"""[ncci-manual-therapy-cmt]: manual therapy (97140) with chiropractic manipulation on the same
visit needs modifier 59/XS (an NCCI edit). Its ``evaluate(facts, terminology)`` on a table of
orders and procedures, then whole requests through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import ncci_manual_therapy_cmt
from tests.procedure_builders import (
    commercial,
    discharge,
    medicare,
    order_sign,
    procedure,
    service_request,
)
from tests.rules.facts_tables import discharge_facts, order_facts, terminology
from tests.rules.procedure_cards import LBP, cards_of


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("orders, performed, expected", [
    pytest.param(["98940", "97140"], [], [("98940", "97140")], id="both-ordered"),
    pytest.param(["97140"], ["98942"], [("98942", "97140")], id="manipulation-done-today"),
    pytest.param(None, ["98941", "97140"], [("98941", "97140")], id="both-performed"),
    pytest.param(["97140"], [], [], id="manual-therapy-alone"),
    pytest.param(None, ["98940"], [], id="manipulation-alone"),
    pytest.param(None, ["97110", "98940"], [], id="other-therapy"),
    pytest.param(["97140", "97530"], [], [], id="no-manipulation"),
])
def test_evaluate_on_a_table_of_orders_and_procedures(orders, performed, expected):
    facts = (order_facts(orders, performed=performed) if orders is not None
             else discharge_facts(performed, payer="medicare"))
    found = ncci_manual_therapy_cmt.evaluate(facts, terminology())
    assert {f.rule_id for f in found} <= {ncci_manual_therapy_cmt.RULE_ID}
    assert [(f.params["cmt"], f.params["manual"]) for f in found] == expected
    assert all(f.suggestions == [] for f in found)


# -- whole requests, through the pipeline to the card ---------------------------------------------
def test_manual_therapy_with_manipulation_is_info(pipeline):
    orders = [service_request("sr1", "98940"), service_request("sr2", "97140")]
    [card] = cards_of(pipeline, order_sign(orders, [LBP], [commercial()]),
                      "ncci-manual-therapy-cmt")
    assert card["indicator"] == "info"
    assert "97140" in card["summary"] and "98940" in card["summary"]
    assert "59" in card["summary"] and "XS" in card["summary"]
    assert "diagnosis pointer" in card["detail"]
    assert "suggestions" not in card


def test_manual_therapy_ordered_after_a_manipulation_performed_today(pipeline):
    body = order_sign([service_request("sr2", "97140")], [LBP],
                      procedures=[procedure("p1", "98942")])
    assert len(cards_of(pipeline, body, "ncci-manual-therapy-cmt")) == 1


def test_manual_therapy_and_manipulation_performed(pipeline):
    body = discharge([procedure("p1", "98941"), procedure("p2", "97140")], [LBP])
    assert len(cards_of(pipeline, body, "ncci-manual-therapy-cmt")) == 1


@pytest.mark.parametrize("codes", [["97140"], ["98940"], ["97110", "98940"], ["97140", "97530"]])
def test_ncci_quiet_without_the_pair(pipeline, codes):
    procedures = [procedure(f"p{i}", c) for i, c in enumerate(codes)]
    assert cards_of(pipeline, discharge(procedures, [LBP], [medicare()]),
                    "ncci-manual-therapy-cmt") == []
