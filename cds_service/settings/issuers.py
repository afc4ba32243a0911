"""Parsing the trusted-issuer and algorithm settings (CDS_TRUSTED_ISSUERS, CDS_AUTH_CONFIG,
CDS_AUTH_ALGORITHMS): which CDS clients may call, where their keys are, how they may sign.

CDS Hooks 2.0 §Trusting CDS Clients: a client signs with its private key (never ``none``, never
an HMAC), and the service keeps an allow-list of ``iss`` and ``jku``. The sandbox's identity is
here because trusting it is a setting of its own (CDS_AUTH_ALLOW_SANDBOX), never an issuer entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Signing algorithms this service can be configured to accept: asymmetric only (the spec forbids
#: ``none`` and every symmetric algorithm).
SUPPORTED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
DEFAULT_ALGORITHMS = ("RS384", "ES384")

#: The CDS Hooks sandbox signs with a key pair whose private half is published: anyone can mint
#: its tokens. Trusted only with CDS_AUTH_ALLOW_SANDBOX=true (development).
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JWKS_URL = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_HOST = "sandbox.cds-hooks.org"


def parse_issuers(value: Any) -> tuple[dict, ...]:
    """Trusted issuers from JSON text (or an already-parsed list, from a config file): a list of
    ``{"iss", "jwks_url", "jku"?, "tenant"?}`` or ``{"issuers": [...]}``."""
    if isinstance(value, str):
        if not value.strip():
            return ()
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("must be JSON: a list of {iss, jwks_url, jku?, tenant?}") from None
    if isinstance(value, dict):
        value = value.get("issuers")
    if not isinstance(value, list):
        raise ValueError("must be a JSON list of {iss, jwks_url, jku?, tenant?}")
    issuers = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"item {index} must be an object")
        unknown = set(item) - {"iss", "jwks_url", "jku", "tenant"}
        if unknown:
            raise ValueError(f"item {index} has unknown fields ({', '.join(sorted(unknown))})")
        iss, jwks_url = item.get("iss"), item.get("jwks_url")
        if not isinstance(iss, str) or not iss.strip():
            raise ValueError(f"item {index}: iss must be a non-empty string")
        if not isinstance(jwks_url, str):
            raise ValueError(f"item {index}: jwks_url must be a URL")
        jku = _strings(item.get("jku"), f"item {index}: jku")
        for url in (jwks_url, *jku):
            _check_jwks_url(url, index)
        issuer = {"iss": iss, "jwks_url": jwks_url, "jku": list(jku),
                  "tenant": list(_strings(item.get("tenant"), f"item {index}: tenant"))}
        if _is_sandbox(issuer):
            raise ValueError(
                f"item {index} is the CDS Hooks sandbox, whose private key is public: trust it "
                "only with CDS_AUTH_ALLOW_SANDBOX=true (development)")
        issuers.append(issuer)
    return tuple(issuers)


def parse_issuers_file(value: Any) -> tuple[dict, ...]:
    """CDS_AUTH_CONFIG: the path of a JSON file holding what CDS_TRUSTED_ISSUERS would."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be the path of a JSON file")
    try:
        content = Path(value.strip()).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot be read ({type(exc).__name__})") from None
    return parse_issuers(content)


def parse_algorithms(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("must be a comma-separated list of JWS algorithms")
    algorithms = tuple(i.strip().upper() for i in items if i.strip())
    bad = [a for a in algorithms if a not in SUPPORTED_ALGORITHMS]
    if bad or not algorithms:
        raise ValueError("must list asymmetric JWS algorithms only "
                         f"({', '.join(sorted(SUPPORTED_ALGORITHMS))}), never none or HS*")
    return algorithms


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where} must be a string or a list of strings")
    return tuple(value)


def _check_jwks_url(url: str, index: int) -> None:
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if not parts.hostname or (
        parts.scheme != "https" and not (parts.scheme == "http" and loopback)
    ):
        raise ValueError(f"item {index}: JWKS URL {url!r} must be https (http only on loopback)")


def _is_sandbox(issuer: dict) -> bool:
    urls = (issuer["iss"], issuer["jwks_url"], *issuer["jku"])
    return any((urlsplit(u).hostname or "").lower() == SANDBOX_HOST for u in urls)
