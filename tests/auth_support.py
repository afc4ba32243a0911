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
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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
