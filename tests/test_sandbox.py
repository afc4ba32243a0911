"""The CDS Hooks sandbox's own requests, byte for byte, against the real server.

tests/fixtures/sandbox/ holds the order-sign requests the sandbox's Rx Sign builds
(github.com/cds-hooks/sandbox: src/components/RxSign/rx-sign.jsx, the MedicationRequest of
src/reducers/medication-reducers.js ``createFhirResource``, the envelope and prefetch of
src/retrieve-data-helpers/service-exchange.js), for a patient whose problem list carries the
retired M54.5: with a supply duration (``intent`` and a ``category`` sent as one object), with an
indication picked (``reasonCode`` as one CodeableConcept, as the same builder makes it when given
the patient's Conditions), and with no medication chosen yet (no ``intent`` at all). Its Bundle
has no ``type``. Each is posted as stored, with a token signed the way the sandbox signs
(src/retrieve-data-helpers/jwt-generator.js: ES384, its published key, its kid, iss and jku),
to a server with ``CDS_AUTH_ALLOW_SANDBOX=true`` and no route to the internet: the sandbox's
public JWKS ships with the service.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests

from cds_service.auth.jwks import sandbox_jwks
from cds_service.settings.issuers import SANDBOX_ISSUER, SANDBOX_JWKS_URL
from tests.support.live_server import LiveServer

SANDBOX = Path(__file__).parent / "fixtures" / "sandbox"
ORDER_SIGN = "lbp-coding-order-sign"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
REQUESTS = ["rx-sign-ibuprofen.json", "rx-sign-ibuprofen-with-indication.json",
            "rx-sign-no-medication-chosen.json"]


def sandbox_token(audience: str) -> str:
    """A JWT as the sandbox's generateJWT(audience) makes it."""
    pair = json.loads((SANDBOX / "sandbox-development-keypair.json").read_text())
    private = jwt.PyJWK(pair["keys"][0], algorithm="ES384")
    now = round(time.time())
    return jwt.encode(
        {"iss": SANDBOX_ISSUER, "aud": audience, "exp": now + 300, "iat": now,
         "jti": str(uuid.uuid4())},
        private.key, algorithm="ES384",
        headers={"typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JWKS_URL},
    )


@pytest.fixture(scope="module")
def sandbox_trusting_server():
    # no CDS_TRUSTED_ISSUERS: the sandbox is the only client trusted; and the network has no
    # route to sandbox.cds-hooks.org (the tests reach loopback only)
    server = LiveServer(env={"CDS_AUTH_ALLOW_SANDBOX": "true"}, workers=1, auth=True)
    yield server
    server.stop()


def post_as_the_sandbox(server: LiveServer, name: str) -> requests.Response:
    url = f"{server.url}/cds-services/{ORDER_SIGN}"
    return requests.post(url, data=(SANDBOX / name).read_bytes(), timeout=30, headers={
        "Content-Type": "application/json", "Accept": "application/json",
        "Authorization": f"Bearer {sandbox_token(url)}"})


@pytest.mark.parametrize("name", REQUESTS)
def test_the_sandbox_rx_sign_request_gets_the_m545_card(sandbox_trusting_server, name):
    response = post_as_the_sandbox(sandbox_trusting_server, name)
    assert response.status_code == 200, response.text[:500]
    cards = response.json()["cards"]
    invalid = [c for c in cards if c["source"]["topic"]["code"] == "invalid-code"]
    assert len(invalid) == 1, cards
    assert "M54.5" in invalid[0]["summary"]
    assert "Not available" not in invalid[0]["detail"]  # order-sign without an encounter


def test_the_single_object_lists_are_repaired_and_logged(sandbox_trusting_server):
    response = post_as_the_sandbox(sandbox_trusting_server,
                                   "rx-sign-ibuprofen-with-indication.json")
    assert response.status_code == 200, response.text[:500]
    log = sandbox_trusting_server.log_text()
    for element in ("MedicationRequest.category", "MedicationRequest.reasonCode"):
        assert f"repaired a client quirk: {element} sent as one object" in log


def test_the_fixtures_keep_the_sandbox_quirks():
    # what makes these requests worth keeping: each quirk, as the sandbox sends it
    def order(name):
        body = json.loads((SANDBOX / name).read_text())
        assert "type" not in body["context"]["draftOrders"]
        return body["context"]["draftOrders"]["entry"][0]["resource"]

    assert isinstance(order("rx-sign-ibuprofen.json")["category"], dict)
    assert isinstance(order("rx-sign-ibuprofen-with-indication.json")["reasonCode"], dict)
    assert "intent" not in order("rx-sign-no-medication-chosen.json")


def test_another_key_under_the_sandbox_kid_is_refused(sandbox_trusting_server):
    forged = jwt.encode(
        {"iss": SANDBOX_ISSUER, "aud": f"{sandbox_trusting_server.url}/cds-services/{ORDER_SIGN}",
         "exp": round(time.time()) + 300, "iat": round(time.time()), "jti": str(uuid.uuid4())},
        jwt.PyJWK({"kty": "EC", "crv": "P-384", "kid": SANDBOX_KID, "alg": "ES384",
                   **_another_p384_key()}, algorithm="ES384").key,
        algorithm="ES384", headers={"typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JWKS_URL})
    response = requests.post(
        f"{sandbox_trusting_server.url}/cds-services/{ORDER_SIGN}",
        data=(SANDBOX / REQUESTS[0]).read_bytes(), timeout=30,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def _another_p384_key() -> dict:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1())))
    return {name: jwk[name] for name in ("x", "y", "d")}


def test_the_shipped_jwks_is_the_sandbox_public_key_only():
    pair = json.loads((SANDBOX / "sandbox-development-keypair.json").read_text())["keys"][0]
    shipped = sandbox_jwks()
    assert list(shipped) == [SANDBOX_KID]
    assert "d" not in shipped[SANDBOX_KID]
    assert {k: shipped[SANDBOX_KID][k] for k in ("x", "y", "crv")} == {
        k: pair[k] for k in ("x", "y", "crv")}


# -- strict on what the rules read, tolerant elsewhere (in process) ---------------------------


def _order_sign(load_example) -> dict:
    body = load_example("medicare-cmt-needs-subluxation")["request"]
    assert body["context"]["draftOrders"]["entry"][0]["resource"]["resourceType"] == (
        "ServiceRequest")
    return body


@pytest.mark.parametrize("change", [
    pytest.param(lambda order: order.pop("intent"), id="no-intent"),
    pytest.param(lambda order: order.update(occurrenceTiming=5), id="bad-unread-element"),
    pytest.param(lambda order: order.update(unknownElement="x"), id="unknown-element"),
    pytest.param(lambda order: order.update(category={"text": "therapy"}), id="single-category"),
])
def test_a_service_request_is_tolerated_where_no_rule_reads(client, change):
    from tests.support.examples import load_example

    body = _order_sign(load_example)
    change(body["context"]["draftOrders"]["entry"][0]["resource"])
    response = client.post(f"/cds-services/{ORDER_SIGN}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert "cmt-subluxation" in {c["source"]["topic"]["code"] for c in response.json["cards"]}


@pytest.mark.parametrize(("change", "element"), [
    (lambda order: order.update(code={"coding": "97140"}), "code"),
    (lambda order: order.update(status=5), "status"),
    (lambda order: order.pop("subject"), "subject"),
    (lambda order: order.update(bodySite=[{"coding": [{"code": 5}]}]), "bodySite"),
    (lambda order: order.update(reasonReference=[{"reference": 7}]), "reasonReference"),
])
def test_what_the_rules_read_of_a_service_request_is_strict(client, change, element):
    from tests.support.examples import load_example

    body = _order_sign(load_example)
    change(body["context"]["draftOrders"]["entry"][0]["resource"])
    response = client.post(f"/cds-services/{ORDER_SIGN}", json=body)
    assert response.status_code == 400
    assert f"entry[0].resource.{element}" in response.json["issue"][0]["diagnostics"]


@pytest.mark.parametrize("order", [
    {"resourceType": "NutritionOrder", "id": "n1", "status": "draft", "dateTime": 5},
    {"resourceType": "MedicationRequest", "id": "m1", "status": "draft",
     "reasonCode": {"text": "back pain"}, "category": {"text": "community"}},
    {"resourceType": "DeviceRequest", "id": "d1", "unknownElement": True},
])
def test_draft_orders_no_rule_judges_never_make_a_400(client, order):
    from tests.support.examples import load_example

    body = _order_sign(load_example)
    body["context"]["draftOrders"]["entry"].append({"resource": order})
    response = client.post(f"/cds-services/{ORDER_SIGN}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]


def test_a_condition_category_sent_as_one_object_is_read_as_a_list(client):
    from tests.support.examples import load_example

    body = load_example("retired-m545")["request"]
    condition = body["prefetch"]["conditions"]["entry"][0]["resource"]
    condition["category"] = {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
        "code": "encounter-diagnosis"}]}
    response = client.post("/cds-services/lbp-coding-encounter-discharge", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert [c["source"]["topic"]["code"] for c in response.json["cards"]] == ["invalid-code"]
