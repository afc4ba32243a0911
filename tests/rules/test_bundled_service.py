"""[bundled-service]: hot or cold packs (97010) are bundled for Medicare (PFS status B). Its
``evaluate(facts, terminology)`` on a table of services and payers, then whole requests through
to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import bundled_service
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
@pytest.mark.parametrize("hook, codes, payer, expected", [
    pytest.param("order-sign", ["97010"], "medicare", ["97010"], id="ordered"),
    pytest.param("encounter-discharge", ["97010"], "medicare", ["97010"], id="performed"),
    pytest.param("encounter-discharge", ["97010", "97110"], "medicare", ["97010"],
                 id="among-others"),
    pytest.param("encounter-discharge", ["97010"], "commercial", [], id="commercial"),
    pytest.param("encounter-discharge", ["97010"], None, [], id="no-coverage"),
    pytest.param("encounter-discharge", ["97110"], "medicare", [], id="not-bundled"),
])
def test_evaluate_on_a_table_of_services_and_payers(hook, codes, payer, expected):
    facts = (order_facts(codes, payer=payer) if hook == "order-sign"
             else discharge_facts(codes, payer=payer))
    found = bundled_service.evaluate(facts, terminology())
    assert {f.rule_id for f in found} <= {bundled_service.RULE_ID}
    assert [f.params["code"] for f in found] == expected


# -- whole requests, through the pipeline to the card ---------------------------------------------
@pytest.mark.parametrize("hook", ["order-sign", "encounter-discharge"])
def test_hot_or_cold_packs_for_medicare(pipeline, hook):
    body = (order_sign([service_request("sr1", "97010")], [LBP], [medicare()])
            if hook == "order-sign" else discharge([procedure("p1", "97010")], [LBP], [medicare()]))
    [card] = cards_of(pipeline, body, "bundled-service")
    assert card["indicator"] == "info"
    assert "97010" in card["summary"]
    assert "status **B**" in card["detail"]
    assert "cannot be billed" in card["summary"]


@pytest.mark.parametrize("covs, code", [([commercial()], "97010"), (None, "97010"),
                                        ([medicare()], "97110")])
def test_bundled_service_quiet(pipeline, covs, code):
    body = discharge([procedure("p1", code)], [LBP], covs)
    assert cards_of(pipeline, body, "bundled-service") == []
