"""Feedback without bounds, against the real server: too many items, strings too long, an
outcome instant outside 1900-2199 (the end of the calendar was a 500), and feedback from a
client the card was not issued to. Each is a 400 or 413 OperationOutcome, and nothing of the
call is stored (counted in the server's own SQLite database)."""

from __future__ import annotations

import copy
import sqlite3
import uuid

import pytest
import requests

from tests.auth_support import ISSUER, TENANT, TENANT_ISSUER, claims, mint
from tests.support.examples import load_example
from tests.support.jwks import trusted_issuers_env
from tests.support.live_server import LiveServer

DISCHARGE = "lbp-coding-encounter-discharge"
AT = "2026-11-20T10:00:00Z"


@pytest.fixture(scope="module")
def server():
    live = LiveServer(workers=1, env={"CDS_FEEDBACK_MAX_ITEMS": "20"})
    yield live
    live.stop()


def stored_feedback(server: LiveServer) -> int:
    with sqlite3.connect(server.data_dir / "cds-service.db") as connection:
        return connection.execute("SELECT count(*) FROM cds_feedback").fetchone()[0]


def issue_card(server: LiveServer, headers: dict | None = None) -> dict:
    body = copy.deepcopy(load_example("retired-m545")["request"])
    body["hookInstance"] = str(uuid.uuid4())
    response = requests.post(f"{server.url}/cds-services/{DISCHARGE}", json=body, timeout=60,
                             headers=headers or {})
    assert response.status_code == 200, response.text[:300]
    return response.json()["cards"][0]


def overridden(card: dict, *, code: str = "not-applicable", comment: str = "seen",
               system: str = "https://example.test/reasons", at: str = AT) -> dict:
    return {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": at,
            "overrideReason": {"reason": {"code": code, "system": system},
                               "userComment": comment}}


def post_feedback(server: LiveServer, body: dict, headers: dict | None = None):
    return requests.post(f"{server.url}/cds-services/{DISCHARGE}/feedback", json=body,
                         timeout=60, headers=headers or {})


def refused(response: requests.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    message = body["issue"][0]["diagnostics"]
    for fragment in fragments:
        assert fragment in message, message


def test_more_items_than_allowed_is_413_and_nothing_is_stored(server):
    card = issue_card(server)
    before = stored_feedback(server)
    items = [overridden(card, at=f"2026-11-20T10:00:{i:02d}Z") for i in range(21)]
    refused(post_feedback(server, {"feedback": items}), 413, "at most 20")
    assert stored_feedback(server) == before
    assert post_feedback(server, {"feedback": items[:20]}).status_code == 200
    assert stored_feedback(server) == before + 20


@pytest.mark.parametrize("field, item, fragment", [
    ("code", lambda card: overridden(card, code="c" * 1024 * 1024), "reason.code"),
    ("system", lambda card: overridden(card, system="https://x.test/" + "s" * 300),
     "reason.system"),
    ("comment", lambda card: overridden(card, comment="w" * (4 * 1024 * 1024)), "userComment"),
    ("suggestion", lambda card: {"card": card["uuid"], "outcome": "accepted",
                                 "outcomeTimestamp": AT,
                                 "acceptedSuggestions": [{"id": "s" * 300}]},
     "acceptedSuggestions[0].id"),
])
def test_a_string_longer_than_allowed_is_400_and_nothing_is_stored(server, field, item,
                                                                   fragment):
    card = issue_card(server)
    before = stored_feedback(server)
    # a good item first: the bad one after it must take it down too
    body = {"feedback": [overridden(card, at="2026-11-21T09:00:00Z"), item(card)]}
    refused(post_feedback(server, body), 400, fragment, "longer than")
    assert stored_feedback(server) == before


@pytest.mark.parametrize("instant", [
    "9999-12-31T23:59:59-14:00",  # past year 9999 once in UTC: was a 500 (OverflowError)
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "2200-01-01T00:00:00Z",
    "1899-12-31T23:59:59Z",
])
def test_an_outcome_instant_outside_1900_to_2199_is_400(server, instant):
    card = issue_card(server)
    before = stored_feedback(server)
    refused(post_feedback(server, {"feedback": [overridden(card, at=instant)]}), 400,
            "outcomeTimestamp", "1900")
    assert stored_feedback(server) == before


def test_instants_at_the_edges_of_the_range_are_stored(server):
    card = issue_card(server)
    before = stored_feedback(server)
    body = {"feedback": [overridden(card, at="1900-01-01T00:00:00Z"),
                         overridden(card, at="2199-12-31T23:59:59+05:00")]}
    assert post_feedback(server, body).status_code == 200
    assert stored_feedback(server) == before + 2


# -- feedback only from the client the card was issued to --------------------------------------


@pytest.fixture(scope="module")
def auth_server(jwks_server):
    live = LiveServer(env=trusted_issuers_env(jwks_server), workers=1, auth=True)
    yield live
    live.stop()


def bearer(jwks_server, server: LiveServer, path: str, key: str = "ec", **extra) -> dict:
    issuer = TENANT_ISSUER if key == "tenant" else ISSUER
    token = mint(jwks_server.keys[key], claims(f"{server.url}{path}", iss=issuer, **extra))
    return {"Authorization": f"Bearer {token}"}


def test_feedback_from_another_client_is_answered_as_for_an_unknown_card(auth_server,
                                                                          jwks_server):
    hook = f"/cds-services/{DISCHARGE}"
    card = issue_card(auth_server, bearer(jwks_server, auth_server, hook, tenant="clinic-a"))
    before = stored_feedback(auth_server)
    feedback = f"{hook}/feedback"
    unknown = {"feedback": [overridden(card | {"uuid": str(uuid.uuid4())})]}
    unknown_answer = post_feedback(auth_server, unknown, bearer(jwks_server, auth_server,
                                                                feedback, tenant="clinic-a"))
    refused(unknown_answer, 400, "not a card this service issued")

    body = {"feedback": [overridden(card)]}
    for headers in (
        bearer(jwks_server, auth_server, feedback, key="tenant", tenant=TENANT),  # another iss
        bearer(jwks_server, auth_server, feedback, tenant="clinic-b"),  # another tenant
        bearer(jwks_server, auth_server, feedback),  # no tenant
    ):
        answer = post_feedback(auth_server, body, headers)
        refused(answer, 400, "not a card this service issued")
        # word for word what an unknown card gets, but for the index: nothing tells it exists
        assert answer.json() == unknown_answer.json()
    assert stored_feedback(auth_server) == before

    owner = bearer(jwks_server, auth_server, feedback, tenant="clinic-a")
    assert post_feedback(auth_server, body, owner).status_code == 200
    assert stored_feedback(auth_server) == before + 1
