"""Checking FHIR resources on their own (cds_service/fhir/): full validation with the models,
the shape of what the facts read, what the rules read of a draft order, a value received for a
prefetch key, and the repair of a known client quirk. Each refusal is a 400 naming the element."""

from __future__ import annotations

import copy

import pytest

from cds_service.errors import CdsError
from cds_service.fhir.received import check_received
from cds_service.fhir.repair import repair_single_lists
from cds_service.fhir.shapes import check_read_elements
from cds_service.fhir.validation import validate_order, validate_resource

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CONDITION = {
    "resourceType": "Condition", "id": "c1",
    "code": {"coding": [{"system": ICD, "code": "M54.50"}]},
    "subject": {"reference": "Patient/p1"}, "recordedDate": "2026-11-20",
}
ORDER = {
    "resourceType": "ServiceRequest", "id": "o1", "status": "draft", "intent": "order",
    "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "97110"}]},
    "subject": {"reference": "Patient/p1"},
}


def refused(check, resource, path="p") -> CdsError:
    with pytest.raises(CdsError) as error:
        check(resource, path)
    assert error.value.status == 400
    return error.value


def test_a_valid_resource_passes_its_model():
    validate_resource(copy.deepcopy(CONDITION), "p")


@pytest.mark.parametrize("change, field, words", [
    ({"colour": "blue"}, "p.colour", "not valid FHIR R4"),  # an element R4 does not define
    ({"recordedDate": "yesterday"}, "p.recordedDate", "not valid FHIR R4"),
    ({"recordedDate": 1.5}, "p.recordedDate", "must be a JSON string"),  # a model reads a date
    ({"onsetAge": {"value": None, "unit": "a"}}, "p.onsetAge.value", "is null"),
    ({"note": [{"text": None}]}, "p.note.0.text", "'text' is required"),
    ({"resourceType": "Conditional"}, "p.resourceType", "unknown resourceType"),
    ({"resourceType": ""}, "p.resourceType", "resourceType is required"),
])
def test_an_invalid_resource_is_a_400_naming_the_element(change, field, words):
    error = refused(validate_resource, dict(copy.deepcopy(CONDITION), **change))
    assert error.field == field
    assert words in error.message


def test_no_patient_data_is_echoed_in_the_message():
    error = refused(validate_resource, dict(copy.deepcopy(CONDITION), recordedDate="Jane Doe"))
    assert "Jane" not in error.message


@pytest.mark.parametrize("element, value, problem", [
    ("code", "M54.50", "must be a non-empty object"),
    ("code", {"coding": {"code": "M54.50"}}, "coding must be an array of objects"),
    ("code", {"coding": [{"code": 5450}]}, "coding.code must be a string"),
    ("id", "c 1", "must be a FHIR id"),
    ("status", "", "must be a FHIR code"),
    ("category", [], "must be a non-empty array"),
    ("subject", {"reference": 7}, "reference must be a string"),
    ("recordedDate", "20/11/2026", "must be a FHIR date or dateTime string"),
    ("recordedDate", "2026-02-31", "must be a day that exists on the calendar"),
    ("onsetDateTime", "2025-06-31T10:00:00Z", "must be a day that exists on the calendar"),
    ("performedPeriod", {"start": "soon"}, "start must be a FHIR dateTime string"),
    ("note", [{"authorString": "dr"}], "text must be a string"),
    ("evidence", [{"detail": [{"reference": 1}]}], "detail: reference must be a string"),
])
def test_the_shape_of_each_element_the_facts_read_is_checked(element, value, problem):
    error = refused(check_read_elements, dict(copy.deepcopy(CONDITION), **{element: value}))
    assert error.field == f"p.{element}"
    assert error.message == f"p.{element} is not valid FHIR R4: {problem}."


def test_elements_the_facts_do_not_read_are_not_shape_checked():
    # a full validation refuses it; the shape check of a history resource lets it by
    check_read_elements(dict(copy.deepcopy(CONDITION), colour=5, abatementString=9), "p")


@pytest.mark.parametrize("change, field, words", [
    ({"status": None}, "p.status", "is required"),
    ({"subject": None}, "p.subject", "is required"),
    ({"bodySite": {"text": "lumbar"}}, "p.bodySite", "must be a non-empty array"),
    ({"code": {"coding": [{"code": 97110}]}}, "p.code.coding.0.code", "a valid string"),
    ({"code": {"coding": [{"code": "97110", "userSelected": None}]}},
     "p.code.coding[0].userSelected", "is null"),
    ({"reasonReference": [{"reference": None}]}, "p.reasonReference[0].reference", "is null"),
    ({"id": "o 1"}, "p.id", "must be a FHIR id"),
    # the order's date dates an order-sign visit: never read a wrong one as "today"
    ({"authoredOn": 5}, "p.authoredOn", "must be a FHIR date or dateTime string"),
    ({"authoredOn": True}, "p.authoredOn", "must be a FHIR date or dateTime string"),
    ({"authoredOn": "next week"}, "p.authoredOn", "must be a FHIR date or dateTime string"),
    ({"authoredOn": "2026-02-30"}, "p.authoredOn", "must be a day that exists on the calendar"),
])
def test_what_the_rules_read_of_a_draft_order_is_validated(change, field, words):
    order = copy.deepcopy(ORDER)
    for name, value in change.items():
        if value is None and name in ("status", "subject"):
            del order[name]
        else:
            order[name] = value
    error = refused(validate_order, order)
    assert error.field == field
    assert words in error.message


@pytest.mark.parametrize("authored", ["2026", "2026-11", "2026-11-20", "2026-11-20T09:30:00-05:00"])
def test_an_order_dated_as_fhir_allows_passes(authored):
    validate_order(dict(copy.deepcopy(ORDER), authoredOn=authored), "p")


def test_what_no_rule_reads_of_a_draft_order_is_not_validated():
    validate_order(dict(copy.deepcopy(ORDER), intent=5, occurrenceDateTime="whenever"), "p")


def searchset(*resources, included=()):
    entries = [{"resource": r} for r in resources]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in included]
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def test_a_search_bundle_holds_resources_of_its_type_and_what_they_include():
    patient = {"resourceType": "Patient", "id": "p1"}
    warning = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "warning", "code": "informational"}]}
    check_received(searchset(copy.deepcopy(CONDITION), warning, included=[patient]),
                   "Condition", True, "prefetch.conditions")


@pytest.mark.parametrize("value, field, words", [
    (copy.deepcopy(CONDITION), "prefetch.conditions", "must be a Bundle of Condition"),
    (searchset({"resourceType": "Patient", "id": "p1"}), "prefetch.conditions.entry[0].resource",
     "is a Patient; prefetch.conditions holds Condition resources"),
    (searchset({"id": "c1"}), "prefetch.conditions.entry[0].resource.resourceType",
     "resourceType is required"),
    ({"resourceType": "Bundle", "entry": {}}, "prefetch.conditions.entry", "must be an array"),
    ({"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}, "prefetch.conditions.entry[0]",
     "must hold a resource object"),
    (searchset(dict(copy.deepcopy(CONDITION), code="M54.50")),
     "prefetch.conditions.entry[0].resource.code", "must be a non-empty object"),
])
def test_a_search_bundle_that_is_not_one_is_a_400(value, field, words):
    error = refused(lambda v, p: check_received(v, "Condition", True, p), value,
                    "prefetch.conditions")
    assert error.field == field
    assert words in error.message


def test_a_single_resource_must_be_of_its_type_and_valid_in_full():
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished",
                 "class": {"code": "AMB"}}
    check_received(copy.deepcopy(encounter), "Encounter", False, "prefetch.encounter")
    error = refused(lambda v, p: check_received(v, "Encounter", False, p),
                    copy.deepcopy(CONDITION), "prefetch.encounter")
    assert error.message == "prefetch.encounter must be a resource of type Encounter."
    error = refused(lambda v, p: check_received(v, "Encounter", False, p),
                    dict(encounter, colour="blue"), "prefetch.encounter")
    assert error.field == "prefetch.encounter.colour"


def test_one_object_sent_where_fhir_has_a_list_is_read_as_a_list_of_one():
    category = {"coding": [{"code": "outpatient"}]}
    medication = {"resourceType": "MedicationRequest", "category": category,
                  "medicationCodeableConcept": {"text": "ibuprofen"}}
    repair_single_lists(medication)
    assert medication["category"] == [category]  # a list in R4
    assert medication["medicationCodeableConcept"] == {"text": "ibuprofen"}  # one in R4
