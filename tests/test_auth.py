"""Client authentication (cds_service/auth, http/client_auth.py): CDS Hooks 2.0 §Trusting
CDS Clients.

Real RSA and EC keys made here, a real JWKS served over loopback HTTP (tests/auth_support.py),
and the real server with authentication on (``auth_live_server``): a good token gets cards,
every failed check gets the same generic 401 and one log line naming the check, never the token.
"""

from __future__ import annotations

import copy
import json
import time
import uuid

import pytest
import requests

from cds_service import create_app
from cds_service.auth.config import trusted_issuers
from cds_service.settings import Settings, SettingsError
from cds_service.settings.issuers import SANDBOX_ISSUER
from tests.auth_support import (
    FAILING_TOKENS,
    ISSUER,
    TENANT,
    TENANT_ISSUER,
    bearer,
    claims,
    mint,
    rsa_key,
)
from tests.support.examples import load_example
from tests.support.jwks import trusted_issuers_env
from tests.support.live_server import LiveServer

DISCHARGE = "lbp-coding-encounter-discharge"
HOOK_PATH = f"/cds-services/{DISCHARGE}"
GENERIC_401 = {"resourceType": "OperationOutcome", "issue": [{
    "severity": "error", "code": "login",
    "diagnostics": "The request could not be authenticated."}]}


def discharge_request() -> dict:
    return copy.deepcopy(load_example("retired-m545")["request"])


def call(server, authorization: str | None, path: str = HOOK_PATH, body: dict | None = None
         ) -> tuple[requests.Response, str]:
    request_id = f"test-{uuid.uuid4().hex}"
    headers = {"X-Request-ID": request_id}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = requests.post(f"{server.url}{path}", json=body or discharge_request(),
                             headers=headers, timeout=30)
    return response, request_id


def logged_check(server, request_id: str) -> str | None:
    for line in server.log_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("request_id") == request_id and "auth_check" in entry:
            return entry["auth_check"]
    return None


def assert_refused(server, authorization: str | None, check: str, path: str = HOOK_PATH):
    response, request_id = call(server, authorization, path)
    assert response.status_code == 401, response.text
    assert response.json() == GENERIC_401  # the same body whatever failed: nothing to learn
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert logged_check(server, request_id) == check
    if authorization:
        assert authorization.split()[-1] not in server.log_text()


# -- a good token ---------------------------------------------------------------------------


@pytest.mark.parametrize("key_name", ["rsa", "ec"])
def test_valid_token_gets_cards(auth_live_server, jwks_server, key_name):
    key = jwks_server.keys[key_name]
    token = mint(key, claims(auth_live_server.url + HOOK_PATH))
    response, request_id = call(auth_live_server, bearer(token))
    assert response.status_code == 200, response.text
    assert [c["source"]["topic"]["code"] for c in response.json()["cards"]] == ["invalid-code"]
    line = next(json.loads(raw) for raw in auth_live_server.log_text().splitlines()
                if f'"request_id":"{request_id}"' in raw and '"event":"request"' in raw)
    assert line["client_iss"] == ISSUER
    assert line["status"] == 200


@pytest.mark.parametrize(
    "make_claims",
    [
        pytest.param(lambda aud: claims([aud, "https://elsewhere.test"]), id="aud-as-a-list"),
        pytest.param(lambda aud: claims(aud, lifetime=15 * 60), id="epic-15-minute-lifetime"),
        pytest.param(lambda aud: claims(aud, now=time.time() + 30), id="iat-within-leeway"),
        pytest.param(lambda aud: claims(aud.replace("http://127.0.0.1", "HTTP://127.0.0.1") + "/"),
                     id="aud-url-normalised"),
        pytest.param(lambda aud: claims("https://cds.example.test/lbp" + HOOK_PATH),
                     id="aud-through-configured-alias"),
    ],
)
def test_valid_variants_are_accepted(auth_live_server, jwks_server, make_claims):
    token = mint(jwks_server.keys["rsa"], make_claims(auth_live_server.url + HOOK_PATH))
    response, _ = call(auth_live_server, bearer(token))
    assert response.status_code == 200, response.text


def test_jku_on_the_allow_list_is_used(auth_live_server, jwks_server):
    token = mint(jwks_server.keys["jku"], claims(auth_live_server.url + HOOK_PATH),
                 jku=jwks_server.url("/jku-allowed.json"))
    assert call(auth_live_server, bearer(token))[0].status_code == 200


def test_tenant_is_checked_where_configured(auth_live_server, jwks_server):
    aud = auth_live_server.url + HOOK_PATH
    key = jwks_server.keys["tenant"]
    good = mint(key, claims(aud, iss=TENANT_ISSUER, tenant=TENANT))
    assert call(auth_live_server, bearer(good))[0].status_code == 200
    assert_refused(auth_live_server, bearer(mint(key, claims(aud, iss=TENANT_ISSUER,
                                                             tenant="another-org"))),
                   "tenant-mismatch")
    assert_refused(auth_live_server, bearer(mint(key, claims(aud, iss=TENANT_ISSUER))),
                   "tenant-mismatch")


# -- each check, failing --------------------------------------------------------------------

@pytest.mark.parametrize("make, check", FAILING_TOKENS)
def test_each_failed_check_is_a_generic_401_and_logged(auth_live_server, jwks_server, make,
                                                       check):
    authorization = make(jwks_server, auth_live_server.url + HOOK_PATH)
    assert_refused(auth_live_server, authorization, check)


def test_replayed_jti_is_refused(auth_live_server, jwks_server):
    token = bearer(mint(jwks_server.keys["ec"], claims(auth_live_server.url + HOOK_PATH)))
    assert call(auth_live_server, token)[0].status_code == 200
    assert_refused(auth_live_server, token, "replayed-jti")


def test_a_replay_is_refused_by_every_worker_and_replica(jwks_server, tmp_path):
    """Two replicas behind one public URL, two workers each, one shared database: a token used
    once is refused wherever it is replayed, whichever worker answers."""
    public = "https://cds.example.test"
    env = {**trusted_issuers_env(jwks_server), "CDS_PUBLIC_BASE_URL": public,
           "CDS_DATA_DIR": str(tmp_path)}
    first = LiveServer(env=env, workers=2, auth=True)
    second = LiveServer(env=env, workers=2, auth=True)
    try:
        token = bearer(mint(jwks_server.keys["ec"], claims(public + HOOK_PATH)))
        assert call(first, token)[0].status_code == 200
        for server in (first, second, second, first):
            assert_refused(server, token, "replayed-jti")
        fresh = bearer(mint(jwks_server.keys["ec"], claims(public + HOOK_PATH)))
        assert call(second, fresh)[0].status_code == 200
    finally:
        first.stop()
        second.stop()


def test_a_new_jti_after_a_replay_is_accepted(auth_live_server, jwks_server):
    aud = auth_live_server.url + HOOK_PATH
    first = claims(aud)
    assert call(auth_live_server, bearer(mint(jwks_server.keys["rsa"], first)))[0].status_code \
        == 200
    second = {**first, "jti": str(uuid.uuid4())}
    assert call(auth_live_server, bearer(mint(jwks_server.keys["rsa"], second)))[0].status_code \
        == 200


def test_key_rotation_is_picked_up_on_an_unknown_kid(auth_live_server, jwks_server):
    rotated = rsa_key("rsa-rotated")
    token = mint(rotated, claims(auth_live_server.url + HOOK_PATH))
    assert_refused(auth_live_server, bearer(token), "unknown-kid")
    jwks_server.publish("/jwks.json", jwks_server.keys["rsa"], jwks_server.keys["ec"], rotated)
    try:
        fresh = mint(rotated, claims(auth_live_server.url + HOOK_PATH))
        assert call(auth_live_server, bearer(fresh))[0].status_code == 200
    finally:
        jwks_server.publish("/jwks.json", jwks_server.keys["rsa"], jwks_server.keys["ec"])


def test_jwks_endpoint_down_with_a_warm_cache_still_works(auth_live_server, jwks_server):
    aud = auth_live_server.url + HOOK_PATH
    key = jwks_server.keys["ec"]
    assert call(auth_live_server, bearer(mint(key, claims(aud))))[0].status_code == 200
    jwks_server.down = True
    try:
        before = jwks_server.hit_count("/jwks.json")
        response, _ = call(auth_live_server, bearer(mint(key, claims(aud))))
        assert response.status_code == 200, response.text
        # the server did try (TTL 0 in this fixture) and fell back on its last good copy
        assert jwks_server.hit_count("/jwks.json") > before
    finally:
        jwks_server.down = False
    assert '"message":"JWKS fetch failed"' in auth_live_server.log_text()


def test_feedback_needs_a_token_for_its_own_url(auth_live_server, jwks_server):
    path = f"{HOOK_PATH}/feedback"
    body = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted",
                          "outcomeTimestamp": "2026-11-20T10:00:00Z"}]}
    response, _ = call(auth_live_server, None, path, body)
    assert response.status_code == 401
    hook_token = bearer(mint(jwks_server.keys["rsa"], claims(auth_live_server.url + HOOK_PATH)))
    response, _ = call(auth_live_server, hook_token, path, body)
    assert response.status_code == 401  # a token for the hook endpoint is not one for feedback
    token = bearer(mint(jwks_server.keys["rsa"], claims(auth_live_server.url + path)))
    response, _ = call(auth_live_server, token, path, body)
    assert response.status_code == 400  # past authentication: the card is unknown
    assert "not a card this service issued" in response.json()["issue"][0]["diagnostics"]


def test_discovery_stays_open(auth_live_server):
    response = requests.get(f"{auth_live_server.url}/cds-services", timeout=10)
    assert response.status_code == 200
    assert len(response.json()["services"]) >= 2


def test_cors_preflight_needs_no_token(auth_live_server):
    response = requests.options(
        f"{auth_live_server.url}{HOOK_PATH}",
        headers={"Origin": "https://sandbox.cds-hooks.org",
                 "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"},
        timeout=10)
    assert response.status_code == 200
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_401_carries_cors_headers(auth_live_server):
    response = requests.post(f"{auth_live_server.url}{HOOK_PATH}", json=discharge_request(),
                             headers={"Origin": "https://sandbox.cds-hooks.org"}, timeout=10)
    assert response.status_code == 401
    assert response.headers.get("Access-Control-Allow-Origin")


# -- configuration, in process --------------------------------------------------------------


def test_in_process_app_checks_tokens_too(auth_app, jwks_server):
    client = auth_app.test_client()
    assert client.post(HOOK_PATH, json=discharge_request()).status_code == 401
    token = bearer(mint(jwks_server.keys["ec"], claims("http://localhost" + HOOK_PATH)))
    response = client.post(HOOK_PATH, json=discharge_request(), headers={"Authorization": token})
    assert response.status_code == 200
    assert response.get_json()["cards"]


def test_no_issuers_and_no_opt_out_refuses_hook_calls(caplog):
    with caplog.at_level("WARNING", logger="cds_service.auth"):
        app = create_app(Settings.load(environ={}))
    assert "every hook and feedback call will be refused" in caplog.text
    client = app.test_client()
    assert client.post(HOOK_PATH, json=discharge_request()).status_code == 401
    assert client.post(f"{HOOK_PATH}/feedback", json={"feedback": []}).status_code == 401
    assert client.get("/cds-services").status_code == 200


def test_explicit_opt_out_is_loud(caplog):
    with caplog.at_level("WARNING", logger="cds_service.auth"):
        app = create_app(Settings.load(environ={"CDS_AUTH_DISABLED": "true"}))
    assert "CLIENT AUTHENTICATION IS DISABLED" in caplog.text
    assert app.test_client().post(HOOK_PATH, json=discharge_request()).status_code == 200


def test_discovery_can_be_protected(jwks_server):
    app = create_app(Settings.load(environ={**trusted_issuers_env(jwks_server),
                                            "CDS_AUTH_DISCOVERY": "true"}))
    client = app.test_client()
    assert client.get("/cds-services").status_code == 401
    token = mint(jwks_server.keys["rsa"], claims("http://localhost/cds-services"))
    response = client.get("/cds-services", headers={"Authorization": bearer(token)})
    assert response.status_code == 200


def test_public_base_url_sets_the_audience(jwks_server):
    app = create_app(Settings.load(environ={**trusted_issuers_env(jwks_server),
                                            "CDS_PUBLIC_BASE_URL": "https://cds.example.org"}))
    client = app.test_client()
    key = jwks_server.keys["rsa"]
    public = bearer(mint(key, claims("https://cds.example.org" + HOOK_PATH)))
    assert client.post(HOOK_PATH, json=discharge_request(),
                       headers={"Authorization": public}).status_code == 200
    # the Host the request came in on no longer counts
    internal = bearer(mint(key, claims("http://localhost" + HOOK_PATH)))
    assert client.post(HOOK_PATH, json=discharge_request(),
                       headers={"Authorization": internal}).status_code == 401


def test_issuers_from_a_config_file(tmp_path, jwks_server):
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [{"iss": ISSUER,
                                             "jwks_url": jwks_server.url("/jwks.json")}]}))
    app = create_app(Settings.load(environ={"CDS_AUTH_CONFIG": str(path)}))
    token = bearer(mint(jwks_server.keys["ec"], claims("http://localhost" + HOOK_PATH)))
    response = app.test_client().post(HOOK_PATH, json=discharge_request(),
                                      headers={"Authorization": token})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "environ, fragment",
    [
        ({"CDS_AUTH_ALGORITHMS": "RS384,HS256"}, "CDS_AUTH_ALGORITHMS"),
        ({"CDS_AUTH_ALGORITHMS": "none"}, "CDS_AUTH_ALGORITHMS"),
        ({"CDS_TRUSTED_ISSUERS": "not json"}, "CDS_TRUSTED_ISSUERS"),
        ({"CDS_TRUSTED_ISSUERS": '[{"iss": "https://a.test"}]'}, "jwks_url"),
        ({"CDS_TRUSTED_ISSUERS": '[{"iss": "https://a.test", "jwks_url": "http://a.test/k"}]'},
         "must be https"),
        ({"CDS_TRUSTED_ISSUERS": json.dumps([{
            "iss": SANDBOX_ISSUER,
            "jwks_url": "https://sandbox.cds-hooks.org/.well-known/jwks.json"}])},
         "CDS_AUTH_ALLOW_SANDBOX"),
        ({"CDS_AUTH_CONFIG": "/nonexistent/issuers.json"}, "CDS_AUTH_CONFIG"),
        ({"CDS_AUTH_DISABLED": "perhaps"}, "CDS_AUTH_DISABLED"),
    ],
)
def test_bad_auth_configuration_is_refused(environ, fragment):
    with pytest.raises(SettingsError, match=fragment):
        Settings.load(environ=environ)


def test_an_issuer_configured_twice_is_refused(tmp_path):
    issuers = json.dumps([{"iss": ISSUER, "jwks_url": "https://ehr.example.test/jwks"}])
    path = tmp_path / "issuers.json"
    path.write_text(issuers)
    settings = Settings.load(environ={"CDS_TRUSTED_ISSUERS": issuers,
                                      "CDS_AUTH_CONFIG": str(path)})
    with pytest.raises(SettingsError, match="configured twice"):
        create_app(settings)


def test_sandbox_is_trusted_only_with_the_development_setting():
    assert SANDBOX_ISSUER not in trusted_issuers(Settings.load(environ={}))
    settings = Settings.load(environ={"CDS_AUTH_ALLOW_SANDBOX": "true"})
    trusted = trusted_issuers(settings)
    assert trusted[SANDBOX_ISSUER].jwks_url == "https://sandbox.cds-hooks.org/.well-known/jwks.json"
