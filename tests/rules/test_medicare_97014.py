"""[medicare-97014]"""

from __future__ import annotations

import json

import pytest

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
from tests.rules.procedure_cards import LBP, actions, cards_of


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
