"""[procedure-unsupported]: an order or procedure (cardiac rehab, debridement, wound care) that
no diagnosis on the encounter can support. Its ``evaluate(facts, terminology)`` on a table of
orders and diagnoses, then whole requests through to the card."""

from __future__ import annotations

import pytest

from cds_service.rules import procedure_unsupported
from cds_service.terminology import CPT_SYSTEM, HCPCS_SYSTEM
from tests.procedure_builders import (
    commercial,
    condition,
    discharge,
    order_sign,
    procedure,
    service_request,
)
from tests.rules.facts_tables import deleted, discharge_facts, order_facts, terminology
from tests.rules.procedure_cards import LBP, actions, cards_of


# -- evaluate(facts, terminology) on tables of facts -----------------------------------------------
@pytest.mark.parametrize("codes, icd, expected", [
    pytest.param(["97597"], ["M54.50"], [("97597", ["ServiceRequest/sr1"])], id="debridement"),
    pytest.param(["93797"], ["M54.41", "M51.16"], [("93797", ["ServiceRequest/sr1"])],
                 id="cardiac-rehab"),
    pytest.param(["G0422"], ["M54.50"], [("G0422", ["ServiceRequest/sr1"])],
                 id="intensive-cardiac-rehab"),
    pytest.param(["11042", "97110"], ["M54.50"], [("11042", ["ServiceRequest/sr1"])],
                 id="only-the-unsupported-one"),
    pytest.param(["11042"], ["M54.50", "L89.154"], [], id="wound-on-the-visit"),
    pytest.param(["97597"], ["M54.50", "E11.621"], [], id="another-diagnosis-may-support"),
    pytest.param(["97110"], ["M54.50"], [], id="back-treatment"),
    pytest.param(["98940"], ["M99.03"], [], id="manipulation"),
    pytest.param(["90686"], ["M54.50"], [], id="not-this-services-business"),
    pytest.param(["97597"], [], [], id="no-diagnosis"),
])
def test_evaluate_on_a_table_of_orders(codes, icd, expected):
    found = procedure_unsupported.evaluate(order_facts(codes, icd), terminology())
    assert {f.rule_id for f in found} <= {procedure_unsupported.RULE_ID}
    assert [(f.params["code"], deleted(f)) for f in found] == expected


def test_evaluate_on_a_performed_procedure_suggests_nothing():
    facts = discharge_facts(["93797"], ["M54.41"])
    [finding] = procedure_unsupported.evaluate(facts, terminology())
    assert (finding.rule_id, finding.params["code"], finding.suggestions) == (
        procedure_unsupported.RULE_ID, "93797", [])


# -- whole requests, through the pipeline to the card ---------------------------------------------
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
