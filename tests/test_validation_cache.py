"""Full FHIR validation is done once per distinct resource: a resource sent again passes on its
digest; an invalid one is refused every time; only digests are kept, and only so many."""

from __future__ import annotations

import copy

import pytest

from cds_service.errors import CdsError
from cds_service.fhir import shapes, validation
from cds_service.fhir.digests import ValidatedDigests
from cds_service.fhir.validation import validate_resource

CONDITION = {
    "resourceType": "Condition", "id": "c1",
    "clinicalStatus": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
        "code": "active"}]},
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M54.50"}]},
    "subject": {"reference": "Patient/p1"},
}


@pytest.fixture()
def model_calls(monkeypatch):
    """Count the model validations (the real ones still run)."""
    calls = []
    real = validation._validate_with_model

    def counted(resource, path):
        calls.append(resource.get("id"))
        return real(resource, path)

    monkeypatch.setattr(validation, "_validate_with_model", counted)
    monkeypatch.setattr(validation, "VALIDATED", ValidatedDigests())
    return calls


def test_the_same_resource_is_parsed_with_its_model_once(model_calls):
    validate_resource(copy.deepcopy(CONDITION), "prefetch.conditions.entry[0].resource")
    validate_resource(copy.deepcopy(CONDITION), "prefetch.conditions.entry[3].resource")
    assert model_calls == ["c1"]
    changed = copy.deepcopy(CONDITION)
    changed["code"]["coding"][0]["code"] = "M54.51"
    validate_resource(changed, "prefetch.conditions.entry[0].resource")
    assert model_calls == ["c1", "c1"]  # any change is a new resource


def test_an_invalid_resource_is_refused_every_time(model_calls):
    validate_resource(copy.deepcopy(CONDITION), "p")
    broken = copy.deepcopy(CONDITION)
    broken["recordedDate"] = "yesterday"
    for _ in range(2):
        with pytest.raises(CdsError) as refused:
            validate_resource(copy.deepcopy(broken), "prefetch.conditions.entry[0].resource")
        assert refused.value.status == 400
        assert "recordedDate" in refused.value.message
    assert model_calls == ["c1", "c1", "c1"]


def test_a_number_where_fhir_has_a_string_is_refused_after_the_string_passed(model_calls):
    validate_resource(copy.deepcopy(CONDITION), "p")
    numeric = copy.deepcopy(CONDITION)
    numeric["recordedDate"] = 2026
    with pytest.raises(CdsError):
        validate_resource(numeric, "p")


def test_only_digests_are_kept_and_only_as_many_as_the_capacity():
    digests = ValidatedDigests(capacity=3)
    resources = [dict(CONDITION, id=f"c{n}") for n in range(5)]
    keys = [digests.digest(r) for r in resources]
    for key in keys:
        digests.add(key)
    assert all(isinstance(k, bytes) and len(k) == 16 for k in keys)
    assert [k in digests for k in keys] == [False, False, True, True, True]
    assert b"M54.50" not in b"".join(digests._digests)


def test_what_cannot_be_digested_is_validated_every_time(model_calls):
    # orjson writes integers of at most 64 bits; JSON and FHIR decimals have no such bound
    huge = {"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"text": "count"}, "valueQuantity": {"value": 2**70}}
    assert ValidatedDigests.digest(huge) is None
    for _ in range(2):
        validate_resource(copy.deepcopy(huge), "p")
    assert model_calls == ["o1", "o1"]


def test_the_shape_check_of_a_history_resource_is_remembered_only_when_it_passes(monkeypatch):
    monkeypatch.setattr(shapes, "SHAPE_CHECKED", ValidatedDigests())
    calls = []
    real = shapes._check_read_elements

    def counted(resource, path):
        calls.append(resource["id"])
        return real(resource, path)

    monkeypatch.setattr(shapes, "_check_read_elements", counted)
    for _ in range(2):
        shapes.check_read_elements(copy.deepcopy(CONDITION), "p")
    assert calls == ["c1"]
    misshapen = dict(copy.deepcopy(CONDITION), code="M54.50")  # a code where FHIR has a concept
    for _ in range(2):
        with pytest.raises(CdsError) as refused:
            shapes.check_read_elements(copy.deepcopy(misshapen), "prefetch.conditions")
        assert refused.value.field == "prefetch.conditions.code"
    assert calls == ["c1", "c1", "c1"]
