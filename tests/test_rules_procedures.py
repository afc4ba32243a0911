"""Procedure pairing and payer rules (issue 4): procedure-unsupported, medicare-97014,
cmt-subluxation, cmt-level, ncci-manual-therapy-cmt, bundled-service, therapy-modifier.

Each rule is run through the real pipeline in process, on requests built in
tests/procedure_builders.py: when it fires, what its actions carry, and when it stays quiet.
"""

from __future__ import annotations

import json

import pytest

from cds_service import create_app
from cds_service.terminology import CPT_SYSTEM, HCPCS_SYSTEM, ICD10CM_SYSTEM, SNOMED_SYSTEM
from tests.contract import check_card_shape, check_response
from tests.procedure_builders import (
    DISCHARGE,
    LUMBAR_SITE,
    ORDER_SIGN,
    SACRAL_SITE,
    commercial,
    condition,
    coverage,
    discharge,
    medicare,
    order_sign,
    procedure,
    service_request,
)
from tests.support.examples import load_example

LBP = condition("c1", "M54.50", sites=[LUMBAR_SITE])
OUR_RULES = {"procedure-unsupported", "medicare-97014", "cmt-subluxation", "cmt-level",
             "ncci-manual-therapy-cmt", "bundled-service", "therapy-modifier"}


@pytest.fixture(scope="module")
def pipeline():
    return create_app().extensions["cds"].pipeline


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


# -- the shared examples ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["medicare-cmt-needs-subluxation",
                                  "order-not-supported-by-diagnosis",
                                  "documented-nonspecific-is-quiet"])
def test_shared_examples(pipeline, name):
    example = load_example(name)
    request = example["request"]
    service = ORDER_SIGN if request["hook"] == "order-sign" else DISCHARGE
    response = pipeline.evaluate(service, json.loads(json.dumps(request))).response
    assert check_response(response, request, example["expect"]) == []


# -- procedure-unsupported -------------------------------------------------------------------------
def test_unsupported_order_is_a_warning_with_a_remove_suggestion(pipeline):
    body = order_sign([service_request("sr1", "97597")], [LBP], [commercial()])
    [card] = cards_of(pipeline, body, "procedure-unsupported")
    assert card["indicator"] == "warning"
    assert "97597" in card["summary"]
    assert "M54.50" in card["detail"]
    assert "plausibility" in card["detail"]
    assert "LCD" in card["detail"]  # says no payer restriction is applied
    [action] = actions(card)
    assert action == {"type": "delete", "description": "Remove the draft order for 97597",
                      "resourceId": "ServiceRequest/sr1"}
    assert {r["code"] for r in card["overrideReasons"]} >= {"clinically-indicated"}


@pytest.mark.parametrize("code", ["93797", "93798", "97597", "97598"])
def test_cardiac_rehab_or_debridement_performed_for_back_pain_only(pipeline, code):
    conditions = [condition("c1", "M54.41"), condition("c2", "M51.16")]
    body = discharge([procedure("p1", code)], conditions)
    [card] = cards_of(pipeline, body, "procedure-unsupported")
    assert card["indicator"] == "warning"
    assert code in card["summary"]
    assert "suggestions" not in card  # a performed procedure cannot be taken back


@pytest.mark.parametrize("code, system", [
    ("G0422", HCPCS_SYSTEM), ("G0423", HCPCS_SYSTEM), ("97602", CPT_SYSTEM),
    ("97605", CPT_SYSTEM), ("97606", CPT_SYSTEM), ("97610", CPT_SYSTEM), ("11042", CPT_SYSTEM),
    ("11043", CPT_SYSTEM), ("11044", CPT_SYSTEM), ("11045", CPT_SYSTEM), ("11046", CPT_SYSTEM),
    ("11047", CPT_SYSTEM),
])
def test_other_cardiac_rehab_and_wound_care_orders_for_back_pain_only(pipeline, code, system):
    body = order_sign([service_request("sr1", code, system)], [LBP], [commercial()])
    [card] = cards_of(pipeline, body, "procedure-unsupported")
    assert code in card["summary"]
    assert "(" in card["summary"]  # named in our own words, not by the code alone
    [action] = actions(card)
    assert action["type"] == "delete" and action["resourceId"] == "ServiceRequest/sr1"
    # a wound on the same visit may well need it: quiet
    wound = order_sign([service_request("sr1", code, system)],
                       [LBP, condition("c2", "L89.154")], [commercial()])
    assert cards_of(pipeline, wound, "procedure-unsupported") == []


def test_a_snomed_only_diagnosis_is_not_judged_through_its_candidate(pipeline):
    """A mapped code is a candidate, not a coded fact: pairing waits for the ICD-10-CM code,
    which icd10cm-missing asks for; once it is coded, pairing judges it."""
    uncoded = order_sign([service_request("sr1", "93797")],
                         [condition("c1", snomed="279039007")])
    assert cards_of(pipeline, uncoded, "procedure-unsupported") == []
    assert len(cards_of(pipeline, uncoded, "icd10cm-missing")) == 1
    coded = order_sign([service_request("sr1", "93797")],
                       [condition("c1", "M54.50", snomed="279039007")])
    assert len(cards_of(pipeline, coded, "procedure-unsupported")) == 1


@pytest.mark.parametrize(
    "icd, code, system",
    [("M54.50", "97110", CPT_SYSTEM), ("M54.50", "97140", CPT_SYSTEM),
     ("M54.59", "97530", CPT_SYSTEM), ("M54.51", "97112", CPT_SYSTEM),
     ("M54.41", "97035", CPT_SYSTEM), ("M51.16", "97014", CPT_SYSTEM),
     ("M51.369", "G0283", HCPCS_SYSTEM), ("S39.012A", "97161", CPT_SYSTEM),
     ("S33.5XXD", "97164", CPT_SYSTEM), ("M48.061", "97162", CPT_SYSTEM),
     ("Z47.89", "97163", CPT_SYSTEM), ("M99.03", "98940", CPT_SYSTEM),
     ("M43.16", "98941", CPT_SYSTEM), ("M47.816", "98942", CPT_SYSTEM),
     ("M54.5", "97110", CPT_SYSTEM)],
)
def test_quiet_when_a_back_diagnosis_supports_the_treatment(pipeline, icd, code, system):
    body = order_sign([service_request("sr1", code, system)], [condition("c1", icd)],
                      [commercial()])
    assert cards_of(pipeline, body, "procedure-unsupported") == []


def test_quiet_for_a_procedure_that_is_not_this_services_business(pipeline):
    flu_shot = service_request("sr1", "90686", text="Influenza vaccine")
    assert cards_of(pipeline, order_sign([flu_shot], [LBP]), "procedure-unsupported") == []


def test_quiet_when_another_diagnosis_may_support_it(pipeline):
    conditions = [LBP, condition("c2", "E11.621")]  # diabetic foot ulcer
    body = order_sign([service_request("sr1", "97597")], conditions)
    assert cards_of(pipeline, body, "procedure-unsupported") == []


def test_quiet_without_any_diagnosis(pipeline):
    body = order_sign([service_request("sr1", "97597")], [])
    assert cards_of(pipeline, body, "procedure-unsupported") == []


# -- medicare-97014 --------------------------------------------------------------------------------
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


# -- cmt-subluxation -------------------------------------------------------------------------------
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


# -- cmt-level -------------------------------------------------------------------------------------
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


# -- ncci-manual-therapy-cmt -----------------------------------------------------------------------
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


# -- bundled-service -------------------------------------------------------------------------------
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


# -- therapy-modifier ------------------------------------------------------------------------------
@pytest.mark.parametrize("year, amount", [("2026", "$2,480"), ("2025", "$2,410")])
def test_therapy_modifiers_at_discharge_with_the_years_threshold(pipeline, year, amount):
    procedures = [procedure("p1", "97110", day=f"{year}-03-02"),
                  procedure("p2", "97140", day=f"{year}-03-02")]
    body = discharge(procedures, [LBP], [medicare()], start=f"{year}-03-02T09:00:00-05:00")
    [card] = cards_of(pipeline, body, "therapy-modifier")
    assert card["indicator"] == "info"
    assert "GP" in card["summary"] and "KX" in card["summary"]
    assert amount in card["summary"] and f"CY{year}" in card["summary"]
    assert "97110" in card["detail"] and "97140" in card["detail"]


def test_therapy_threshold_of_an_unknown_year_is_not_invented(pipeline):
    body = discharge([procedure("p1", "97530", day="2027-02-01")], [LBP], [medicare()],
                     start="2027-02-01T09:00:00-05:00")
    [card] = cards_of(pipeline, body, "therapy-modifier")
    assert "not known" in card["summary"]
    assert "$" not in card["summary"] and "$" not in card["detail"]


def test_g0283_is_therapy_too(pipeline):
    body = discharge([procedure("p1", "G0283", HCPCS_SYSTEM)], [LBP], [medicare()])
    assert len(cards_of(pipeline, body, "therapy-modifier")) == 1


@pytest.mark.parametrize(
    "body",
    [discharge([procedure("p1", "97110")], [LBP], [commercial()]),
     discharge([procedure("p1", "97110")], [LBP], None),
     discharge([procedure("p1", "98940")], [condition("c1", "M99.03")], [medicare()]),
     discharge([procedure("p1", "97166")], [LBP], [medicare()]),   # OT evaluation: GO, not GP
     order_sign([service_request("sr1", "97110")], [LBP], [medicare()])],  # discharge only
)
def test_therapy_modifier_quiet(pipeline, body):
    assert cards_of(pipeline, body, "therapy-modifier") == []


# -- together --------------------------------------------------------------------------------------
def test_documented_back_pain_with_therapy_and_no_coverage_is_quiet(pipeline):
    body = discharge([procedure("p1", "97110"), procedure("p2", "97530")], [LBP])
    cards = run(pipeline, body)
    assert not [c for c in cards if c["source"]["topic"]["code"] in OUR_RULES]
