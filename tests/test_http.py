"""The HTTP API over a real server on a loopback port: discovery, hook calls, every error status,
CORS (the CDS Hooks sandbox is a browser app), feedback."""

from __future__ import annotations

import copy
import uuid

import pytest
import requests

from tests.support.examples import load_example

DISCHARGE = "lbp-coding-encounter-discharge"
ORDER_SIGN = "lbp-coding-order-sign"


def post(server, service_id, body=None, **kwargs):
    return requests.post(f"{server.url}/cds-services/{service_id}", json=body, timeout=30,
                         **kwargs)


def discharge_request(name="retired-m545"):
    return copy.deepcopy(load_example(name)["request"])


def order_request(name="medicare-cmt-needs-subluxation"):
    return copy.deepcopy(load_example(name)["request"])


def assert_outcome(response, status, *fragments):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    message = body["issue"][0]["diagnostics"]
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in response.text
    return body


def test_discovery_lists_one_service_per_hook(live_server):
    response = requests.get(f"{live_server.url}/cds-services", timeout=10)
    assert response.status_code == 200
    services = response.json()["services"]
    assert sorted(s["hook"] for s in services) == ["encounter-discharge", "order-sign"]
    for service in services:
        assert {"id", "hook", "title", "description", "prefetch", "usageRequirements"} <= set(
            service)
        assert set(service["prefetch"]) == {
            "patient", "encounter", "encounterConditions", "activeConditions", "priorInjuries",
            "encounterProcedures", "priorSpineSurgery", "coverage"}
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        # every search asks for large pages, and none asks for the whole record of a type
        for key, template in service["prefetch"].items():
            if "?" in template:
                assert "&_count=" in template, key
                assert template.count("&") >= 2 or "status=" in template, key


def test_hook_call_answers_cards(live_server):
    response = post(live_server, DISCHARGE, discharge_request())
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["cards"]
    assert [c["source"]["topic"]["code"] for c in body["cards"]] == ["invalid-code"]


@pytest.mark.parametrize(
    "mutate, status, fragment",
    [
        (lambda b: b.update(hook="order-sign"), 400, "'encounter-discharge' hook"),
        (lambda b: b.pop("hookInstance"), 400, "hookInstance"),
        (lambda b: b.update(hookInstance="not-a-uuid"), 400, "hookInstance"),
        (lambda b: b["context"].pop("encounterId"), 400, "context.encounterId"),
        (lambda b: b["context"].pop("userId"), 400, "context.userId"),
        (lambda b: b["context"].update(patientId=7), 400, "context.patientId"),
        (lambda b: b["context"].update(patientId="../Patient/x"), 400, "FHIR resource id"),
        (lambda b: b.update(context=[]), 400, "context"),
        (lambda b: b.update(prefetch=[]), 400, "prefetch"),
        (lambda b: b["prefetch"].update(encounter={"resourceType": "Patient", "id": "x"}), 400,
         "prefetch.encounter must be a resource of type Encounter"),
        (lambda b: b["prefetch"]["conditions"]["entry"][0]["resource"].update(
            onsetDateTime="last spring"), 400, "onsetDateTime"),
        (lambda b: b["prefetch"]["conditions"]["entry"][0]["resource"].update(
            resourceType="NoSuchType"), 400, "unknown resourceType"),
        (lambda b: b["prefetch"]["conditions"]["entry"][0].update(resource="text"), 400,
         "entry[0]"),
        (lambda b: b.update(fhirAuthorization={"access_token": 5}), 400, "access_token"),
    ],
)
def test_invalid_envelopes_get_400_naming_the_problem(live_server, mutate, status, fragment):
    body = discharge_request()
    mutate(body)
    assert_outcome(post(live_server, DISCHARGE, body), status, fragment)


def test_unknown_resource_inside_a_nested_bundle_is_400_not_500(live_server):
    body = discharge_request()
    body["prefetch"]["conditions"]["entry"][0]["resource"]["contained"] = [
        {"resourceType": "Bogus", "id": "x"}
    ]
    assert_outcome(post(live_server, DISCHARGE, body), 400, "prefetch.conditions")


def test_draft_orders_must_be_present_for_order_sign(live_server):
    body = order_request()
    del body["context"]["draftOrders"]
    assert_outcome(post(live_server, ORDER_SIGN, body), 400, "context.draftOrders")


def test_draft_orders_bundle_without_type_is_read(live_server):
    body = order_request()
    del body["context"]["draftOrders"]["type"]
    assert post(live_server, ORDER_SIGN, body).status_code == 200


def test_malformed_json_is_400(live_server):
    response = requests.post(f"{live_server.url}/cds-services/{DISCHARGE}", data=b'{"hook": ',
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert_outcome(response, 400, "not valid JSON")


def test_body_that_is_not_an_object_is_400(live_server):
    assert_outcome(post(live_server, DISCHARGE, [1, 2]), 400, "JSON object")


def test_unknown_service_is_404(live_server):
    assert_outcome(post(live_server, "no-such-service", discharge_request()), 404,
                   "no-such-service")


def test_unknown_path_is_404_json(live_server):
    response = requests.get(f"{live_server.url}/nothing-here", timeout=10)
    assert_outcome(response, 404, "No such endpoint")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_method_is_405(live_server, method):
    response = requests.request(method, f"{live_server.url}/cds-services/{DISCHARGE}",
                                timeout=10)
    body = assert_outcome(response, 405, method)
    assert "POST" in response.headers["Allow"]
    assert body["issue"][0]["code"] == "not-supported"


def test_body_over_the_limit_is_413(live_server):
    body = b'{"pad": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    response = requests.post(f"{live_server.url}/cds-services/{DISCHARGE}", data=body,
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert_outcome(response, 413, "larger")


def test_not_json_content_type_is_415(live_server):
    response = requests.post(f"{live_server.url}/cds-services/{DISCHARGE}", data=b"hook=x",
                             headers={"Content-Type": "application/x-www-form-urlencoded"},
                             timeout=10)
    assert_outcome(response, 415, "JSON")


def test_missing_required_prefetch_without_fhir_server_is_412(live_server):
    body = discharge_request()
    del body["prefetch"]["conditions"]
    del body["fhirServer"]
    outcome = assert_outcome(post(live_server, DISCHARGE, body), 412, "conditions")
    assert outcome["issue"][0]["code"] == "incomplete"


def test_operation_outcome_in_prefetch_counts_as_absent(live_server):
    body = discharge_request()
    body["prefetch"]["conditions"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    del body["fhirServer"]
    assert_outcome(post(live_server, DISCHARGE, body), 412, "conditions")


def test_null_prefetch_means_no_data(live_server):
    body = discharge_request()
    body["prefetch"]["conditions"] = None
    body["prefetch"]["procedures"] = None
    response = post(live_server, DISCHARGE, body)
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_missing_optional_prefetch_still_answers(live_server):
    body = discharge_request()
    del body["prefetch"]["procedures"]
    del body["prefetch"]["patient"]
    response = post(live_server, DISCHARGE, body)
    assert response.status_code == 200
    assert [c["source"]["topic"]["code"] for c in response.json()["cards"]] == ["invalid-code"]


def test_cors_preflight_allows_the_sandbox(live_server):
    response = requests.options(
        f"{live_server.url}/cds-services/{DISCHARGE}",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://sandbox.cds-hooks.org")
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


@pytest.mark.parametrize("method, path", [("GET", "/cds-services"),
                                          ("POST", f"/cds-services/{DISCHARGE}")])
def test_cors_headers_on_responses(live_server, method, path):
    response = requests.request(method, f"{live_server.url}{path}",
                                json=discharge_request() if method == "POST" else None,
                                headers={"Origin": "https://sandbox.cds-hooks.org"}, timeout=10)
    assert response.headers.get("Access-Control-Allow-Origin") in (
        "*", "https://sandbox.cds-hooks.org")


def test_cors_headers_on_errors(live_server):
    response = requests.post(f"{live_server.url}/cds-services/{DISCHARGE}", data=b"{",
                             headers={"Origin": "https://sandbox.cds-hooks.org",
                                      "Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400
    assert response.headers.get("Access-Control-Allow-Origin")


def _feedback(card_uuid, **item):
    return {"feedback": [{"card": card_uuid, "outcomeTimestamp": "2026-11-20T10:00:00Z",
                          **item}]}


def test_feedback_round_trip(client):
    cards = client.post(f"/cds-services/{DISCHARGE}", json=discharge_request()).get_json()["cards"]
    card = cards[0]
    accepted = _feedback(card["uuid"], outcome="accepted",
                         acceptedSuggestions=[{"id": card["suggestions"][0]["uuid"]}])
    response = client.post(f"/cds-services/{DISCHARGE}/feedback", json=accepted)
    assert response.status_code == 200, response.get_json()
    overridden = _feedback(card["uuid"], outcome="overridden", overrideReason={
        "reason": card["overrideReasons"][0], "userComment": "payer confirmed"})
    assert client.post(f"/cds-services/{DISCHARGE}/feedback", json=overridden).status_code == 200


@pytest.mark.parametrize(
    "item, fragment",
    [
        ({"outcome": "ignored"}, "outcome"),
        ({"outcome": "accepted", "acceptedSuggestions": [{"id": str(uuid.uuid4())}]},
         "not on the card"),
        ({"outcome": "accepted", "outcomeTimestamp": "yesterday"}, "outcomeTimestamp"),
        ({"outcome": "overridden", "overrideReason": "because"}, "overrideReason"),
    ],
)
def test_feedback_validation(client, item, fragment):
    cards = client.post(f"/cds-services/{DISCHARGE}", json=discharge_request()).get_json()["cards"]
    body = _feedback(cards[0]["uuid"], **item)
    response = client.post(f"/cds-services/{DISCHARGE}/feedback", json=body)
    assert response.status_code == 400
    assert fragment in response.get_json()["issue"][0]["diagnostics"]


def test_feedback_for_an_unknown_card_is_400(client):
    body = _feedback(str(uuid.uuid4()), outcome="accepted")
    response = client.post(f"/cds-services/{DISCHARGE}/feedback", json=body)
    assert response.status_code == 400
    assert "not a card this service issued" in response.get_json()["issue"][0]["diagnostics"]
