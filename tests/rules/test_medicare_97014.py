"""[medicare-97014]: Medicare pays unattended electrical stimulation as G0283, not 97014. Its
``evaluate(facts, terminology)`` on a table of orders and payers, then whole requests through
to the card."""

from __future__ import annotations

import json

import pytest

from cds_service.rules import medicare_97014
from cds_service.terminology import HCPCS_SYSTEM, SNOMED_SYSTEM
from tests.procedure_builders import (
    commercial,
    coverage,
    discharge,
    medicare,
    order_sign,
    procedure,
    service_request,
)
from tests.rules.facts_tables import discharge_facts, new_codes, order_facts, terminology
from tests.rules.procedure_cards import LBP, actions, cards_of


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("hook, codes, payer, expected", [
    pytest.param("order-sign", ["97014"], "medicare", [("97014", ["G0283"])], id="ordered"),
    pytest.param("encounter-discharge", ["97014"], "medicare", [("97014", ["G0283"])],
                 id="performed"),
    pytest.param("order-sign", ["97110", "97014"], "medicare", [("97014", ["G0283"])],
                 id="among-others"),
    pytest.param("order-sign", ["97014"], "commercial", [], id="commercial"),
    pytest.param("order-sign", ["97014"], None, [], id="no-coverage"),
    pytest.param("order-sign", ["G0283"], "medicare", [], id="already-g0283"),
])
def test_evaluate_on_a_table_of_orders_and_payers(hook, codes, payer, expected):
    facts = (order_facts(codes, payer=payer) if hook == "order-sign"
             else discharge_facts(codes, payer=payer))
    found = medicare_97014.evaluate(facts, terminology())
    assert {f.rule_id for f in found} <= {medicare_97014.RULE_ID}
    assert [(f.params["code"], new_codes(f)) for f in found] == expected


# -- whole requests, through the pipeline to the card ---------------------------------------------
def test_97014_for_medicare_suggests_g0283_on_the_whole_order(pipeline):
    snomed = {"system": SNOMED_SYSTEM, "code": "1234567", "display": "local e-stim concept"}
    order = service_request("sr1", "97014", extra_codings=[snomed], text="E-stim 97014")
    order["bodySite"] = [{"text": "low back"}]
    body = order_sign([order], [LBP], [medicare()])
    [card] = cards_of(pipeline, body, "medicare-97014")
    assert card["indicator"] == "warning"
    assert "G0283" in card["summary"]
    [suggestion] = card["suggestions"]
    assert suggestion["label"].startswith("Use G0283")
    [action] = suggestion["actions"]
    assert action["type"] == "update"
    assert action["description"] == "Change the order from 97014 to G0283"
    resource = action["resource"]
    assert resource["id"] == "sr1"
    assert resource["bodySite"] == [{"text": "low back"}]
    assert resource["subject"] == {"reference": "Patient/p1"}
    codings = resource["code"]["coding"]
    assert [(c["system"], c["code"]) for c in codings] == [
        (HCPCS_SYSTEM, "G0283"), (SNOMED_SYSTEM, "1234567")]
    assert "97014" not in json.dumps(resource["code"])


def test_97014_performed_for_medicare_updates_the_procedure(pipeline):
    body = discharge([procedure("p1", "97014")], [LBP], [medicare()])
    [card] = cards_of(pipeline, body, "medicare-97014")
    [action] = actions(card)
    assert action["resource"]["resourceType"] == "Procedure"
    assert action["resource"]["code"]["coding"][0]["code"] == "G0283"
    assert action["description"] == "Change the procedure from 97014 to G0283"


@pytest.mark.parametrize(
    "cov",
    [coverage("11", "Acme Medicare Advantage"),          # a child of SOPT 1
     coverage(None, "Medicare Part B"),                  # no type: the payor's name
     coverage("1", None),                                 # type alone
     coverage("1", "CMS", period={"start": "2026-01-01"})],
)
def test_medicare_is_recognised(pipeline, cov):
    body = order_sign([service_request("sr1", "97014")], [LBP], [cov])
    assert len(cards_of(pipeline, body, "medicare-97014")) == 1


def test_medicare_is_recognised_when_sopt_is_sent_under_its_oid(pipeline):
    cov = coverage(None, None)
    cov["type"] = {"coding": [{"system": "urn:oid:2.16.840.1.113883.3.221.5", "code": "121"}]}
    body = order_sign([service_request("sr1", "97014")], [LBP], [cov])
    assert len(cards_of(pipeline, body, "medicare-97014")) == 1
    cov["type"]["coding"][0]["code"] = "511"  # commercial under the same OID: quiet
    assert cards_of(pipeline, order_sign([service_request("sr1", "97014")], [LBP], [cov]),
                    "medicare-97014") == []


@pytest.mark.parametrize(
    "covs",
    [None,                                                                # no Coverage
     [commercial()],
     [coverage("2", "Centers for Medicare & Medicaid Services")],        # SOPT 2: type decides
     [coverage(None, "Acme Health")],
     [coverage("1", "Medicare", period={"end": "2025-12-31"})],           # not in force
     [coverage("1", "Medicare", status="cancelled")]],
)
def test_97014_quiet_when_the_payer_is_not_medicare(pipeline, covs):
    body = order_sign([service_request("sr1", "97014")], [LBP], covs)
    assert cards_of(pipeline, body, "medicare-97014") == []


def test_cpt_sent_under_its_oid_is_read(pipeline):
    body = order_sign([service_request("sr1", "97014", "urn:oid:2.16.840.1.113883.6.12")],
                      [LBP], [medicare()])
    assert len(cards_of(pipeline, body, "medicare-97014")) == 1


def test_g0283_for_medicare_is_quiet(pipeline):
    body = order_sign([service_request("sr1", "G0283", HCPCS_SYSTEM)], [LBP], [medicare()])
    assert cards_of(pipeline, body, "medicare-97014") == []
