"""The request envelope on its own (cds_service/hooks/envelope.py): what a CDS Hooks call must
carry, and which prefetch keys it leaves for the service to fetch."""

from __future__ import annotations

import copy
import uuid

import pytest

from cds_service.errors import CdsError
from cds_service.hooks import encounter_discharge, order_sign
from cds_service.hooks.envelope import read_envelope
from tests.builders import bundle, condition, encounter

INSTANCE = str(uuid.uuid4())
CONTEXT = {"userId": "Practitioner/pr1", "patientId": "p1", "encounterId": "e1"}


def body(**changes) -> dict:
    request = {"hook": "encounter-discharge", "hookInstance": INSTANCE,
               "context": dict(CONTEXT), "prefetch": {}}
    request.update(changes)
    return request


@pytest.mark.parametrize("request_body, field", [
    ([], None),
    (body(hook="order-sign"), "hook"),
    (body(hookInstance="not-a-uuid"), "hookInstance"),
    (body(context={"userId": "Practitioner/pr1", "patientId": "p1"}), "context.encounterId"),
    (body(context=dict(CONTEXT, patientId=" ")), "context.patientId"),
    (body(context=dict(CONTEXT, patientId="p1&_include=*")), "context.patientId"),
    (body(fhirServer=""), "fhirServer"),
    (body(fhirAuthorization={"access_token": "t"}), "fhirServer"),
    (body(fhirServer="https://ehr.example/fhir",
          fhirAuthorization={"access_token": "t", "token_type": "MAC"}),
     "fhirAuthorization.token_type"),
    (body(fhirServer="https://ehr.example/fhir",
          fhirAuthorization={"access_token": "t", "expires_in": True}),
     "fhirAuthorization.expires_in"),
    (body(prefetch=[]), "prefetch"),
    (body(prefetch={"encounter": "Encounter/e1"}), "prefetch.encounter"),
    (body(prefetch={"encounter": condition("c1")}), "prefetch.encounter"),
])
def test_a_malformed_envelope_is_a_400_naming_the_field(request_body, field):
    with pytest.raises(CdsError) as refused:
        read_envelope(request_body, encounter_discharge.SERVICE)
    assert refused.value.status == 400
    assert refused.value.field == field


def test_the_context_the_access_and_the_prefetch_are_read():
    sent = body(fhirServer="https://ehr.example/fhir",
                fhirAuthorization={"access_token": "t0ken", "token_type": "bearer",
                                   "expires_in": 300, "scope": "patient/*.read"},
                prefetch={"encounter": encounter(), "coverage": None,
                          "encounterConditions": bundle([condition("c1")]),
                          "activeConditions": {"resourceType": "OperationOutcome"}})
    request = read_envelope(copy.deepcopy(sent), encounter_discharge.SERVICE)
    assert (request.hook_instance, request.patient_id, request.encounter_id) == (
        INSTANCE, "p1", "e1")
    assert (request.fhir_server, request.access_token) == ("https://ehr.example/fhir", "t0ken")
    assert request.prefetch == {"encounter": encounter(), "coverage": None,
                                "encounterConditions": bundle([condition("c1")])}
    # what the client did not send, or could not fetch itself, is for the service to fetch
    assert request.absent == {"patient", "activeConditions", "priorInjuries",
                              "encounterProcedures", "priorSpineSurgery"}


def test_a_broad_key_leaves_none_of_its_narrow_keys_to_fetch():
    request = read_envelope(body(prefetch={"conditions": bundle([condition("c1")])}),
                            encounter_discharge.SERVICE)
    assert request.absent == {"patient", "encounter", "encounterProcedures",
                              "priorSpineSurgery", "coverage"}


def test_draft_orders_are_read_and_only_order_resources_are_accepted():
    order = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order",
             "subject": {"reference": "Patient/p1"}}
    medication = {"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
                  "category": {"text": "outpatient"}}  # the sandbox's one-object quirk
    context = {"userId": "Practitioner/pr1", "patientId": "p1",
               "draftOrders": bundle([order, medication])}
    request = read_envelope(body(hook="order-sign", context=context), order_sign.SERVICE)
    assert [o["resourceType"] for o in request.draft_orders] == [
        "ServiceRequest", "MedicationRequest"]
    assert request.draft_orders[1]["category"] == [{"text": "outpatient"}]
    context["draftOrders"] = bundle([order, encounter()])
    with pytest.raises(CdsError) as refused:
        read_envelope(body(hook="order-sign", context=context), order_sign.SERVICE)
    assert refused.value.field == "context.draftOrders.entry[1].resource"
