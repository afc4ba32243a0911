"""Token verification on its own (cds_service/auth/verify.py and audience.py): the verifier in
process, trusting the loopback JWKS fixture's issuers, with no app and no server. Each failing
token names its check; a failure names the token's issuer and key for the log, never the token.
"""

from __future__ import annotations

import json

import pytest

from cds_service.auth.audience import audience_matches, expected_audiences
from cds_service.auth.verify import AuthFailure, ClientIdentity, TokenVerifier
from cds_service.settings import Settings
from tests.auth_support import (
    FAILING_TOKENS,
    ISSUER,
    TENANT,
    TENANT_ISSUER,
    bearer,
    claims,
    mint,
)

AUD = "https://cds.example.test/lbp/cds-services/lbp-coding-encounter-discharge"


@pytest.fixture()
def verifier(jwks_server) -> TokenVerifier:
    issuers = [
        {"iss": ISSUER, "jwks_url": jwks_server.url("/jwks.json"),
         "jku": [jwks_server.url("/jku-allowed.json")]},
        {"iss": TENANT_ISSUER, "jwks_url": jwks_server.url("/tenant.json"), "tenant": TENANT},
    ]
    return TokenVerifier(Settings.load(environ={"CDS_TRUSTED_ISSUERS": json.dumps(issuers)}))


def test_a_good_token_names_its_client(verifier, jwks_server):
    token = bearer(mint(jwks_server.keys["ec"], claims(AUD)))
    assert verifier.verify(token, [AUD]) == ClientIdentity(ISSUER, "ehr-client-id", None, "ec-1")


def test_a_tenant_issuers_token_names_its_tenant(verifier, jwks_server):
    token = bearer(mint(jwks_server.keys["tenant"], claims(AUD, iss=TENANT_ISSUER,
                                                           tenant=TENANT)))
    assert verifier.verify(token, [AUD]).tenant == TENANT


@pytest.mark.parametrize("make, check", FAILING_TOKENS)
def test_each_failing_token_names_its_check(verifier, jwks_server, make, check):
    with pytest.raises(AuthFailure) as caught:
        verifier.verify(make(jwks_server, AUD), [AUD])
    assert caught.value.check == check


@pytest.mark.parametrize("payload, check", [
    ({"tenant": "another-org"}, "tenant-mismatch"),
    ({}, "tenant-mismatch"),  # a tenant issuer's token must name its tenant
])
def test_a_tenant_issuers_token_for_another_tenant_is_refused(verifier, jwks_server, payload,
                                                              check):
    token = bearer(mint(jwks_server.keys["tenant"], claims(AUD, iss=TENANT_ISSUER, **payload)))
    with pytest.raises(AuthFailure, match=check):
        verifier.verify(token, [AUD])


def test_a_token_is_accepted_once(verifier, jwks_server):
    token = bearer(mint(jwks_server.keys["rsa"], claims(AUD)))
    verifier.verify(token, [AUD])
    with pytest.raises(AuthFailure, match="replayed-jti"):
        verifier.verify(token, [AUD])


def test_a_failure_names_the_issuer_and_key_but_not_the_token(verifier, jwks_server):
    raw = mint(jwks_server.keys["rsa"], claims(AUD, lifetime=7200))
    with pytest.raises(AuthFailure) as caught:
        verifier.verify(bearer(raw), [AUD])
    failure = caught.value
    assert (failure.check, failure.issuer, failure.kid) == ("lifetime-too-long", ISSUER, "rsa-1")
    assert raw not in repr(failure.args) and str(failure) == "lifetime-too-long"


def test_a_token_that_cannot_be_read_names_nobody(verifier):
    with pytest.raises(AuthFailure) as caught:
        verifier.verify("Bearer not-a-jwt", [AUD])
    assert (caught.value.check, caught.value.issuer, caught.value.kid) == (
        "malformed-token", None, None)


@pytest.mark.parametrize("aud, accepted", [
    (AUD, True),
    ("HTTPS://CDS.example.test:443/lbp/cds-services/lbp-coding-encounter-discharge/", True),
    (["https://other.test/x", AUD], True),
    ("http://cds.example.test/lbp/cds-services/lbp-coding-encounter-discharge", False),
    ("https://cds.example.test:8443/lbp/cds-services/lbp-coding-encounter-discharge", False),
    ("https://cds.example.test/lbp/cds-services/lbp-coding-order-sign", False),
    ([], False),
    (None, False),
    ([42], False),
])
def test_the_audience_is_compared_in_normalised_form(aud, accepted):
    assert audience_matches(aud, [AUD]) is accepted


@pytest.mark.parametrize("environ, expected", [
    ({}, ["http://10.0.0.5:8080/cds-services/x"]),
    ({"CDS_PUBLIC_BASE_URL": "https://cds.example.org/"},
     ["https://cds.example.org/cds-services/x"]),
    ({"CDS_PUBLIC_BASE_URL": "https://cds.example.org", "CDS_AUTH_AUDIENCE_ALIASES":
      "https://proxy.example.org/lbp"},
     ["https://cds.example.org/cds-services/x", "https://proxy.example.org/lbp/cds-services/x"]),
])
def test_the_expected_audiences_are_the_endpoint_under_each_base(environ, expected):
    settings = Settings.load(environ=environ)
    assert expected_audiences(settings, "http://10.0.0.5:8080/", "/cds-services/x") == expected
