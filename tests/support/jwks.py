"""Client authentication on: a CDS client's JWKS served over loopback HTTP, the settings that
trust its issuers, and the app and the real server with authentication on (the keys and tokens
themselves: tests/auth_support.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cds_service import create_app
from cds_service.settings import Settings
from tests.auth_support import ISSUER, TENANT, TENANT_ISSUER, JwksServer, ec_key, rsa_key
from tests.support.live_server import LiveServer


@pytest.fixture(scope="session")
def jwks_server() -> Iterator[JwksServer]:
    """A CDS client's JWKS over loopback HTTP: an RSA (RS384) and an EC (ES384) key at
    /jwks.json, another EC key at /jku-allowed.json, a tenant issuer's key at /tenant.json."""
    server = JwksServer()
    server.keys = {"rsa": rsa_key("rsa-1"), "ec": ec_key("ec-1"), "jku": ec_key("jku-1"),
                   "tenant": ec_key("tenant-1")}
    server.publish("/jwks.json", server.keys["rsa"], server.keys["ec"])
    server.publish("/jku-allowed.json", server.keys["jku"])
    server.publish("/jku-not-allowed.json", server.keys["jku"])
    server.publish("/tenant.json", server.keys["tenant"])
    yield server
    server.stop()


def trusted_issuers_env(jwks: JwksServer) -> dict[str, str]:
    issuers = [
        {"iss": ISSUER, "jwks_url": jwks.url("/jwks.json"), "jku": [jwks.url("/jku-allowed.json")]},
        {"iss": TENANT_ISSUER, "jwks_url": jwks.url("/tenant.json"), "tenant": TENANT},
    ]
    return {"CDS_TRUSTED_ISSUERS": json.dumps(issuers),
            "CDS_AUTH_AUDIENCE_ALIASES": "https://cds.example.test/lbp",
            # re-fetch the JWKS on every call, so that the outage test meets a real failed fetch
            "CDS_AUTH_JWKS_TTL_SECONDS": "0", "CDS_AUTH_JWKS_MIN_REFETCH_SECONDS": "0"}


@pytest.fixture(scope="session")
def auth_live_server(jwks_server) -> Iterator[LiveServer]:
    """The real server with client authentication on, trusting ``jwks_server``'s issuers, with
    one worker (the replay across workers and replicas has its own test in test_auth.py)."""
    server = LiveServer(env=trusted_issuers_env(jwks_server), workers=1, auth=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth_app(jwks_server):
    """The app in process with client authentication on, trusting ``jwks_server``'s issuers."""
    return create_app(Settings.load(environ={**trusted_issuers_env(jwks_server),
                                             "CDS_AUTH_JWKS_TTL_SECONDS": "300"}))
