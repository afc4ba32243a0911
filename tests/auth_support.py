"""Test helpers for client authentication: real key pairs, a real JWKS served over loopback HTTP,
and tokens minted (or forged) the way a CDS client (or an attacker) would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support.logs import register_secret

ISSUER = "https://ehr.example.test/cds-client"
TENANT_ISSUER = "https://tenant-ehr.example.test"
TENANT = "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"


@dataclass
class KeyPair:
    kid: str
    alg: str
    private_key: Any

    @property
    def public_jwk(self) -> dict:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def rsa_key(kid: str | None = None, alg: str = "RS384", bits: int = 2048) -> KeyPair:
    return KeyPair(kid or f"rsa-{uuid.uuid4().hex[:8]}", alg,
                   rsa.generate_private_key(public_exponent=65537, key_size=bits))


def ec_key(kid: str | None = None, alg: str = "ES384") -> KeyPair:
    curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
    return KeyPair(kid or f"ec-{uuid.uuid4().hex[:8]}", alg, ec.generate_private_key(curve))


def claims(aud: str | list[str], iss: str = ISSUER, lifetime: int = 300,
           now: float | None = None, **extra: Any) -> dict:
    now = int(time.time() if now is None else now)
    payload = {"iss": iss, "sub": "ehr-client-id", "aud": aud, "iat": now,
               "exp": now + lifetime, "jti": str(uuid.uuid4())}
    payload.update(extra)
    return {k: v for k, v in payload.items() if v is not None}


def mint(key: KeyPair, payload: dict, alg: str | None = None, **header: Any) -> str:
    """A JWT signed by ``key``; header fields given as None are left out (typ=None: no typ)."""
    headers = {"typ": "JWT", "kid": key.kid, **header}
    headers = {k: v for k, v in headers.items() if v is not None}
    token = jwt.encode(payload, key.private_key, algorithm=alg or key.alg, headers=headers)
    if "typ" not in headers:  # PyJWT adds typ itself: rebuild the header without it
        token = _resign(key, headers, payload, alg or key.alg)
    return token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _resign(key: KeyPair, header: dict, payload: dict, alg: str) -> str:
    header = {"alg": alg, **header}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = jwt.get_algorithm_by_name(alg).sign(signing_input.encode(), key.private_key)
    return f"{signing_input}.{_b64(signature)}"


def forge(header: dict, payload: dict, signature: bytes = b"") -> str:
    """A token put together by hand (alg none, or anything PyJWT refuses to produce)."""
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}." + (
        _b64(signature))


def forge_hs256_with_public_key(key: KeyPair, payload: dict) -> str:
    """The classic algorithm-confusion attack: HMAC-SHA256 keyed with the public key's PEM."""
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


class JwksServer:
    """JWK Sets served over HTTP on a loopback port, one per path; can be taken "down" (503)."""

    def __init__(self) -> None:
        self.sets: dict[str, list[dict]] = {}
        self.keys: dict[str, KeyPair] = {}  # the fixture's named keys
        self.hits: dict[str, int] = {}
        self.down = False
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with server._lock:
                    server.hits[self.path] = server.hits.get(self.path, 0) + 1
                    keys = server.sets.get(self.path)
                    down = server.down
                if down or keys is None:
                    self.send_response(503 if down else 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"keys": keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def publish(self, path: str, *keys: KeyPair, extra: list[dict] | None = None) -> None:
        with self._lock:
            self.sets[path] = [k.public_jwk for k in keys] + list(extra or [])

    def hit_count(self, path: str) -> int:
        with self._lock:
            return self.hits.get(path, 0)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Clock:
    """A clock the test moves (``clock.now += 10``), for the caches' ``clock`` argument."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def bearer(token: str) -> str:
    """The Authorization header for ``token``, registered as a secret no log line may hold."""
    return f"Bearer {register_secret(token, 'JWT')}"


#: A case makes the Authorization header (or None) from the JWKS fixture and the audience.
Case = Callable[[JwksServer, str], str | None]


def _without(payload: dict, name: str) -> dict:
    payload.pop(name)
    return payload


#: Tokens that fail one check each, as (case, the check it fails).
FAILING_TOKENS: list[tuple[Case, str]] = [
    pytest.param(lambda j, aud: None, "missing-token", id="no-authorization-header"),
    pytest.param(lambda j, aud: "Basic dXNlcjpwYXNzd29yZA==", "missing-token", id="basic-auth"),
    pytest.param(lambda j, aud: "Bearer not-a-jwt", "malformed-token", id="not-a-jwt"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud), alg="RS256")),
                 "algorithm-not-allowed", id="rs256-not-configured"),
    pytest.param(lambda j, aud: bearer(forge({"alg": "none", "typ": "JWT", "kid": "rsa-1"},
                                             claims(aud))),
                 "algorithm-not-allowed", id="alg-none"),
    pytest.param(lambda j, aud: bearer(forge_hs256_with_public_key(j.keys["rsa"], claims(aud))),
                 "algorithm-not-allowed", id="hs256-keyed-with-the-public-key"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud), kid="ec-1")),
                 "key-algorithm-mismatch", id="rs384-token-naming-an-ec-key"),
    pytest.param(lambda j, aud: bearer(mint(rsa_key("rsa-1"), claims(aud))),
                 "bad-signature", id="signed-by-another-key-under-a-known-kid"),
    pytest.param(lambda j, aud: bearer(mint(rsa_key("nobody-knows-me"), claims(aud))),
                 "unknown-kid", id="unknown-kid"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud, now=time.time() - 1000))),
                 "expired", id="expired"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud, nbf=int(time.time()) + 600,
                                                                  lifetime=900))),
                 "not-yet-valid", id="nbf-in-the-future"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud, now=time.time() + 600))),
                 "not-yet-valid", id="iat-in-the-future"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud, lifetime=7200))),
                 "lifetime-too-long", id="lifetime-over-the-maximum"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"],
                                            claims("https://other.test/cds-services/x"))),
                 "wrong-audience", id="aud-of-another-service"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(
        aud.replace("lbp-coding-encounter-discharge", "lbp-coding-order-sign")))),
                 "wrong-audience", id="aud-of-our-other-endpoint"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], _without(claims(aud), "aud"))),
                 "missing-claim", id="no-aud"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], _without(claims(aud), "jti"))),
                 "missing-claim", id="no-jti"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], _without(claims(aud), "exp"))),
                 "missing-claim", id="no-exp"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud, exp="never"))),
                 "invalid-claims", id="exp-not-a-number"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"],
                                            claims(aud, iss="https://evil.example.test"))),
                 "untrusted-issuer", id="untrusted-iss"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], _without(claims(aud), "iss"))),
                 "untrusted-issuer", id="no-iss"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["jku"], claims(aud),
                                            jku=j.url("/jku-not-allowed.json"))),
                 "jku-not-allowed", id="jku-not-on-the-allow-list"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud),
                                            jku="https://evil.example.test/jwks.json")),
                 "jku-not-allowed", id="jku-on-a-foreign-host"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud), typ=None)),
                 "typ-not-jwt", id="no-typ"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud), typ="at+jwt")),
                 "typ-not-jwt", id="typ-not-jwt"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud), kid=None)),
                 "missing-kid", id="no-kid"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["rsa"], claims(aud), crit=["exp"])),
                 "malformed-token", id="unknown-crit-extension"),
    pytest.param(lambda j, aud: bearer(mint(j.keys["tenant"], claims(aud))),
                 "unknown-kid", id="another-issuers-key"),
]
