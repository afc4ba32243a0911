"""The pipeline on its own (cds_service/hooks/pipeline.py): a call goes envelope -> prefetch ->
facts -> rules -> cards, and of the client's search results only what the rules read in depth
(the diagnoses, this encounter's procedures, the coverage in force) is validated in full, a 400
naming where the client sent it; what no rule reads in depth is tolerated."""

from __future__ import annotations

import copy
import uuid

import pytest

from cds_service.cards import CardRenderer
from cds_service.errors import CdsError
from cds_service.fhir.client import FetchFailed
from cds_service.hooks import pipeline as pipeline_module
from cds_service.hooks.pipeline import HookPipeline
from cds_service.terminology import get_terminology
from tests.builders import DAY, DISCHARGE, bundle, condition, encounter, procedure

# an element FHIR R4 does not define: the shape check of what the facts read passes it, the
# resource's model does not
UNDEFINED = {"colour": "blue"}


class RecordingRenderer(CardRenderer):
    """The cards, and what the pipeline told them could not be had."""

    not_fetched = None

    def render(self, findings, unavailable=frozenset(), rule_pages=None):
        self.not_fetched = unavailable
        return super().render(findings, unavailable, rule_pages)


class FailingFetcher:
    def allows(self, fhir_server):
        return True

    def fetch_all(self, fhir_server, access_token, queries):
        return {key: FetchFailed(key, "unreachable") for key in queries}


@pytest.fixture()
def evaluate():
    renderer = RecordingRenderer()
    hooks = HookPipeline(get_terminology(), renderer, FailingFetcher())

    def run(prefetch: dict, service: str = DISCHARGE, **body):
        request = {"hook": "encounter-discharge", "hookInstance": str(uuid.uuid4()),
                   "context": {"userId": "Practitioner/pr1", "patientId": "p1",
                               "encounterId": "e1"},
                   "prefetch": prefetch, **body}
        return hooks.evaluate(service, request)

    run.renderer = renderer
    return run


def record(conditions=(), active=(), procedures=(), coverage=None) -> dict:
    return {"patient": {"resourceType": "Patient", "id": "p1"}, "encounter": encounter(),
            "encounterConditions": bundle(conditions), "activeConditions": bundle(active),
            "priorInjuries": bundle([]), "encounterProcedures": bundle(procedures),
            "priorSpineSurgery": bundle([]), "coverage": coverage}


def coverage(status: str = "active", **extra) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "Coverage", "id": "cov1", "status": status,
        "beneficiary": {"reference": "Patient/p1"},
        "payor": [{"display": "Medicare"}], **extra}}]}


def test_an_unknown_service_is_a_404(evaluate):
    with pytest.raises(CdsError) as refused:
        evaluate(record([condition("c1")]), service="no-such-service")
    assert refused.value.status == 404


def test_the_stages_run_in_order_and_the_facts_reach_the_rules(evaluate, monkeypatch):
    stages = []
    monkeypatch.setattr(pipeline_module, "enter_stage", stages.append)
    result = evaluate(record([condition("c1", icd="M54.5")]))
    assert stages == ["prefetch", "facts", "rules", "cards"]
    assert [d.id for d in result.facts.diagnoses] == ["c1"]
    assert str(result.facts.date_of_service) == DAY
    # M54.5 is no longer a billable code: a rule found it, and its finding became a card
    assert result.rule_ids
    assert [card["source"]["topic"]["code"] for card in result.response["cards"]] == (
        result.rule_ids)


def test_the_keys_that_could_not_be_fetched_reach_the_cards(evaluate):
    prefetch = record([condition("c1")])
    del prefetch["coverage"]
    evaluate(prefetch, fhirServer="https://ehr.example/fhir")
    assert evaluate.renderer.not_fetched == frozenset({"coverage"})


def test_an_encounter_diagnosis_is_validated_in_full_where_the_client_sent_it(evaluate):
    broken = dict(condition("c2"), **UNDEFINED)
    with pytest.raises(CdsError) as refused:
        evaluate(record([condition("c1"), broken]))
    assert refused.value.status == 400
    assert refused.value.field.startswith("prefetch.encounterConditions.entry[1].resource")


def test_a_diagnosis_merged_from_the_problem_list_is_named_by_its_own_key(evaluate):
    # no Condition is linked to the encounter: the active problem list holds the diagnoses
    broken = dict(condition("c2", encounter=None), **UNDEFINED)
    with pytest.raises(CdsError) as refused:
        evaluate(record(active=[condition("c1", encounter=None), broken]))
    assert refused.value.field.startswith("prefetch.activeConditions.entry[1].resource")


@pytest.mark.parametrize("history", [
    # a problem-list Condition when the encounter has its own diagnoses
    {"active": [dict(condition("old", encounter=None), **UNDEFINED)]},
    # a refuted Condition is never a fact
    {"conditions": [condition("c1"), dict(condition("r1"), **UNDEFINED, verificationStatus={
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "refuted"}]})]},
    # a procedure of an earlier visit
    {"procedures": [dict(procedure("p0", "97110", "2025-01-02"), **UNDEFINED)]},
    # a Coverage no longer in force
    {"coverage": coverage(status="cancelled", **UNDEFINED)},
])
def test_what_no_rule_reads_in_depth_is_tolerated(evaluate, history):
    parts = {"conditions": [condition("c1")], **history}
    result = evaluate(record(**parts))
    assert [d.id for d in result.facts.diagnoses] == ["c1"]


@pytest.mark.parametrize("parts, field", [
    ({"procedures": [dict(procedure("p1", "97110", DAY), **UNDEFINED)]},
     "prefetch.encounterProcedures.entry[0].resource"),
    ({"coverage": coverage(**UNDEFINED)}, "prefetch.coverage.entry[0].resource"),
])
def test_this_encounters_procedures_and_the_coverage_in_force_are_validated_in_full(
        evaluate, parts, field):
    with pytest.raises(CdsError) as refused:
        evaluate(record([condition("c1")], **parts))
    assert refused.value.status == 400
    assert refused.value.field.startswith(field)


def test_the_first_invalid_resource_the_rules_read_is_the_one_named(evaluate):
    # the diagnoses come before the procedures and the coverage
    prefetch = record([condition("c1"), dict(condition("c2"), **UNDEFINED)],
                      procedures=[dict(procedure("p1", "97110", DAY), **UNDEFINED)],
                      coverage=coverage(**UNDEFINED))
    with pytest.raises(CdsError) as refused:
        evaluate(copy.deepcopy(prefetch))
    assert refused.value.field.startswith("prefetch.encounterConditions.entry[1].resource")
