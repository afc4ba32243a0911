"""facts.build: which Conditions are the encounter's diagnoses, their coded and candidate
ICD-10-CM codes, and the date of service."""

from __future__ import annotations

from datetime import date

import pytest

from cds_service.terminology import ICD10_WHO_SYSTEM
from tests.builders import condition, encounter
from tests.facts.support import facts_of


@pytest.mark.parametrize("resource, coded, candidates, uncoded, name", [
    pytest.param(condition("c1", "M54.50"), ("M54.50",), (), False, "M54.50",
                 id="icd10cm-coding-is-coded-and-has-no-candidates"),
    pytest.param(condition("c1", "m54.50"), ("M54.50",), (), False, "M54.50",
                 id="icd10cm-code-normalised-to-upper-case"),
    pytest.param(condition("c1", None, snomed="279039007"), (), ("M54.50",), True,
                 "Low back pain (finding)",
                 id="snomed-only-low-back-pain-gets-a-candidate-never-a-code"),
    pytest.param(condition("c1", None, snomed="20021007"), (), ("M51.26",), True,
                 "Displacement of lumbar intervertebral disc without myelopathy (disorder)",
                 id="snomed-only-disc-displacement-candidate-M51.26"),
    pytest.param(condition("c1", None, snomed="38341003"), (), (), False,
                 "a diagnosis coded without ICD-10-CM",
                 id="snomed-code-outside-the-maps-has-no-candidate"),
    pytest.param(condition("c1", ["M54.50", "M54.32"], snomed="279039007"),
                 ("M54.50", "M54.32"), (), False, "M54.50, M54.32",
                 id="coded-beside-snomed-the-snomed-code-gives-no-candidate"),
])
def test_coded_and_candidate_codes(resource, coded, candidates, uncoded, name):
    diagnosis, = facts_of(resource).diagnoses
    assert diagnosis.coded == coded
    assert diagnosis.candidates == candidates
    assert diagnosis.uncoded is uncoded
    assert diagnosis.name == name


def test_who_icd10_code_gives_a_candidate_not_a_code():
    resource = condition("c1", None)
    resource["code"]["coding"] = [{"system": ICD10_WHO_SYSTEM, "code": "M54.5"}]
    diagnosis, = facts_of(resource).diagnoses
    assert diagnosis.coded == ()
    assert diagnosis.candidates and diagnosis.candidates[0].startswith("M54.5")
    assert diagnosis.uncoded


def test_conditions_of_the_encounter_are_its_diagnoses_the_others_are_not():
    facts = facts_of(condition("c1", "M54.50"), condition("c2", "M54.41", encounter=None),
                     condition("c3", "S39.012A", encounter="e-other"))
    assert [d.id for d in facts.diagnoses] == ["c1"]
    assert [d.id for d in facts.other_conditions] == ["c2", "c3"]
    assert facts.coded_on_encounter == frozenset({"M54.50"})


def test_without_an_encounter_link_the_active_conditions_are_the_diagnoses():
    facts = facts_of(condition("c1", "M54.50", encounter=None),
                     condition("c2", "M54.41", encounter=None, clinical_status="resolved"))
    assert [d.id for d in facts.diagnoses] == ["c1"]
    assert [d.id for d in facts.other_conditions] == ["c2"]


@pytest.mark.parametrize("status", ["refuted", "entered-in-error"])
def test_refuted_and_entered_in_error_conditions_are_never_facts(status):
    dropped = condition("c2", "M54.41")
    dropped["verificationStatus"] = {"coding": [{"code": status}]}
    facts = facts_of(condition("c1", "M54.50"), dropped)
    assert [d.id for d in facts.diagnoses + facts.other_conditions] == ["c1"]


def test_date_of_service_is_the_encounters_local_start_date():
    facts = facts_of(condition("c1", "M54.50", recorded="2019-01-01"),
                     enc=encounter(start="2025-03-04T23:30:00-05:00"))
    assert facts.date_of_service == date(2025, 3, 4)
    assert facts.diagnoses[0].date_of_service == date(2025, 3, 4)


def test_order_sign_without_an_encounter_dates_by_the_orders_authored_day():
    order = {"resourceType": "ServiceRequest", "id": "o1", "status": "draft",
             "authoredOn": "2025-06-07T10:00:00Z",
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "98940"}]}}
    facts = facts_of(condition("c1", "M54.50", encounter=None, recorded="2019-01-01"),
                     enc=encounter(start=None), hook="order-sign", draft_orders=[order],
                     today=date(2026, 1, 1))
    assert facts.date_of_service == date(2025, 6, 7)
    assert [o.billing_codes for o in facts.orders] == [("98940",)]
    assert facts.billed_services == facts.orders
