"""Prefetch resolution on its own (cds_service/hooks/prefetch.py): what the client sent is kept,
what it left out is fetched through the Fetcher it is handed, what cannot be had is unavailable
(412 only for the keys the rules cannot do without), and the narrow keys make up the keys the
facts read."""

from __future__ import annotations

import copy
import uuid

import pytest

from cds_service.errors import CdsError
from cds_service.fhir.client import FetchFailed
from cds_service.hooks import encounter_discharge
from cds_service.hooks.envelope import read_envelope
from cds_service.hooks.prefetch import render_query, resolve_prefetch
from tests.builders import bundle, condition, encounter, procedure

SERVER = "https://ehr.example/fhir"


class FakeFetcher:
    """Answers each key from a table; remembers the queries it was asked."""

    def __init__(self, answers: dict, allowed: bool = True):
        self.answers = answers
        self.allowed = allowed
        self.asked: dict[str, str] = {}

    def allows(self, fhir_server: str) -> bool:
        return self.allowed

    def fetch_all(self, fhir_server, access_token, queries):
        self.asked.update(queries)
        return {key: copy.deepcopy(self.answers[key]) if key in self.answers
                else FetchFailed(key, "not answered") for key in queries}


def discharge(prefetch: dict, fhir_server: str | None = SERVER):
    body = {"hook": "encounter-discharge", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/pr1", "patientId": "p1", "encounterId": "e1"},
            "prefetch": prefetch}
    if fhir_server:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": "t0ken", "token_type": "Bearer"}
    return read_envelope(body, encounter_discharge.SERVICE)


def everything(**changes) -> dict:
    """A prefetch with every published key: nothing left to fetch."""
    prefetch = {"patient": {"resourceType": "Patient", "id": "p1"}, "encounter": encounter(),
                "encounterConditions": bundle([condition("c1")]), "activeConditions": bundle([]),
                "priorInjuries": bundle([]), "encounterProcedures": bundle([]),
                "priorSpineSurgery": bundle([]), "coverage": None}
    prefetch.update(changes)
    return prefetch


@pytest.mark.parametrize("template, context, query", [
    ("Patient/{{context.patientId}}", {"patientId": "p1"}, "Patient/p1"),
    ("Condition?patient=Patient/{{ context.patientId }}&encounter=Encounter/"
     "{{context.encounterId}}", {"patientId": "p1", "encounterId": "e1"},
     "Condition?patient=Patient/p1&encounter=Encounter/e1"),
    ("Encounter/{{context.encounterId}}", {"patientId": "p1"}, None),  # order-sign, no visit
    ("Encounter/{{context.encounterId}}", {"encounterId": ""}, None),
])
def test_a_template_is_filled_from_the_context_or_not_at_all(template, context, query):
    assert render_query(template, context) == query


def test_what_the_client_sent_is_used_and_nothing_is_fetched():
    fetcher = FakeFetcher({})
    resolved = resolve_prefetch(discharge(everything()), fetcher)
    assert fetcher.asked == {}
    assert resolved.unavailable == frozenset() and resolved.fetch_failed == frozenset()
    assert [e["resource"]["id"] for e in resolved.data["conditions"]["entry"]] == ["c1"]
    assert resolved.data["procedures"] == {"resourceType": "Bundle", "type": "searchset"}


def test_the_narrow_keys_make_up_the_conditions_each_resource_once_in_their_order():
    prefetch = everything(
        encounterConditions=bundle([condition("c1"), condition("c2")]),
        activeConditions=bundle([condition("c2"), condition("c3", encounter=None)]),
        priorInjuries=bundle([condition("c0", icd="S33.5XXA", encounter=None)]))
    data = resolve_prefetch(discharge(prefetch), None).data
    assert [e["resource"]["id"] for e in data["conditions"]["entry"]] == ["c1", "c2", "c3", "c0"]
    # the merged entries are the very ones the envelope checked, not copies
    assert data["conditions"]["entry"][0] is prefetch["encounterConditions"]["entry"][0]


def test_a_broad_key_the_client_sends_is_used_whole_and_its_narrow_keys_are_not_fetched():
    prefetch = everything(conditions=bundle([condition("old")]))
    for key in ("encounterConditions", "activeConditions", "priorInjuries"):
        del prefetch[key]
    fetcher = FakeFetcher({})
    data = resolve_prefetch(discharge(prefetch), fetcher).data
    assert fetcher.asked == {}
    assert [e["resource"]["id"] for e in data["conditions"]["entry"]] == ["old"]


def test_what_the_client_left_out_is_fetched_with_its_query():
    prefetch = everything()
    del prefetch["encounterProcedures"]
    done = procedure("pr1", "97110", "2026-11-20")
    fetcher = FakeFetcher({"encounterProcedures": bundle([done])})
    resolved = resolve_prefetch(discharge(prefetch), fetcher)
    assert list(fetcher.asked) == ["encounterProcedures"]
    assert fetcher.asked["encounterProcedures"].startswith(
        "Procedure?patient=Patient/p1&encounter=Encounter/e1")
    assert [e["resource"]["id"] for e in resolved.data["procedures"]["entry"]] == ["pr1"]
    assert resolved.unavailable == frozenset()


def test_an_optional_key_that_cannot_be_fetched_is_unavailable_and_said_so_on_the_cards():
    prefetch = everything()
    del prefetch["coverage"]
    resolved = resolve_prefetch(discharge(prefetch), FakeFetcher({}))
    assert "coverage" not in resolved.data
    assert resolved.unavailable == resolved.fetch_failed == frozenset({"coverage"})


def test_without_a_fhir_server_an_optional_key_is_unavailable_but_not_a_failed_fetch():
    prefetch = everything()
    del prefetch["coverage"]
    resolved = resolve_prefetch(discharge(prefetch, fhir_server=None), FakeFetcher({}))
    assert resolved.unavailable == frozenset({"coverage"})
    assert resolved.fetch_failed == frozenset()


@pytest.mark.parametrize("fetcher, reason", [
    (None, "fetching from this fhirServer is not enabled"),
    (FakeFetcher({}, allowed=False), "fetching from this fhirServer is not enabled"),
    (FakeFetcher({}), "not answered"),
])
def test_a_required_key_that_cannot_be_had_is_a_412_naming_it(fetcher, reason):
    prefetch = everything()
    del prefetch["encounter"]
    with pytest.raises(CdsError) as refused:
        resolve_prefetch(discharge(prefetch), fetcher)
    assert refused.value.status == 412
    assert refused.value.field == "prefetch.encounter"
    assert "encounter" in refused.value.message and reason in refused.value.message


def test_the_conditions_are_missing_when_a_part_they_need_cannot_be_fetched():
    prefetch = everything()
    del prefetch["activeConditions"]
    with pytest.raises(CdsError) as refused:
        resolve_prefetch(discharge(prefetch), FakeFetcher({}))
    assert refused.value.status == 412
    assert refused.value.field == "prefetch.activeConditions"
    assert "conditions" in refused.value.message


def test_a_history_slice_that_cannot_be_fetched_leaves_the_conditions_usable():
    prefetch = everything()
    del prefetch["priorInjuries"]
    resolved = resolve_prefetch(discharge(prefetch), FakeFetcher({}))
    assert resolved.fetch_failed == frozenset({"priorInjuries"})
    assert [e["resource"]["id"] for e in resolved.data["conditions"]["entry"]] == ["c1"]


def test_fetched_resources_of_another_patient_are_dropped():
    prefetch = everything()
    del prefetch["encounterProcedures"]
    other = procedure("pr2", "97110", "2026-11-20")
    other["subject"] = {"reference": "Patient/p2"}
    fetcher = FakeFetcher({"encounterProcedures": bundle(
        [procedure("pr1", "97110", "2026-11-20"), other])})
    data = resolve_prefetch(discharge(prefetch), fetcher).data
    assert [e["resource"]["id"] for e in data["procedures"]["entry"]] == ["pr1"]


def test_a_fetched_encounter_of_another_patient_is_not_used():
    prefetch = everything()
    del prefetch["encounter"]
    theirs = dict(encounter(), subject={"reference": "Patient/p2"})
    with pytest.raises(CdsError) as refused:
        resolve_prefetch(discharge(prefetch), FakeFetcher({"encounter": theirs}))
    assert refused.value.status == 412
    assert "another patient's record" in refused.value.message


def test_an_invalid_fetched_resource_makes_its_key_unavailable_never_a_400():
    prefetch = everything()
    del prefetch["encounterProcedures"]
    broken = procedure("pr1", "97110", "2026-11-20")
    broken["status"] = 7  # the server sent it: not the client's mistake
    resolved = resolve_prefetch(discharge(prefetch),
                                FakeFetcher({"encounterProcedures": bundle([broken])}))
    assert resolved.fetch_failed == frozenset({"encounterProcedures"})
    assert "encounterProcedures" not in resolved.data
    # the procedures are what could be had: the (empty) prior operations the client sent
    assert "entry" not in resolved.data["procedures"]


def test_a_fetched_key_the_server_says_does_not_exist_is_null():
    prefetch = everything()
    del prefetch["coverage"]
    resolved = resolve_prefetch(discharge(prefetch), FakeFetcher({"coverage": None}))
    assert resolved.data["coverage"] is None
    assert resolved.unavailable == frozenset()
