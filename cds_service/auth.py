"""Trusting CDS clients: verify the signed JWT that a CDS client (the EHR) sends with each call.

CDS Hooks 2.0 §Trusting CDS Clients (https://cds-hooks.hl7.org/2.0/#trusting-cds-clients): the
client sends ``Authorization: Bearer <JWT>``, signed with its private key (never ``none``, never
an HMAC); the header carries ``alg``, ``kid``, ``typ`` ("JWT") and optionally ``jku``; the payload
``iss``, ``aud`` (the URL of the endpoint being called), ``exp``, ``iat``, ``jti`` and optionally
``tenant``; services keep an allow-list of ``iss`` and ``jku``.

What is checked, in order (each failure is one named check, logged without the token, and
answered 401 with a generic body): the header's shape, the algorithm allow-list, a trusted
issuer, the ``jku`` allow-list, the key (from the issuer's JWKS, cached), the signature, the
times (``exp``, ``nbf``, ``iat``, a maximum lifetime), the audience, the tenant, and ``jti``
replay.
"""

from __future__ import annotations

import binascii
import hashlib
import heapq
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import requests
from flask import Flask, Response, current_app, g, request

log = logging.getLogger("cds_service.auth")

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
_SANDBOX_HOST = "sandbox.cds-hooks.org"
#: The sandbox's public JWKS (its build/.well-known/jwks.json: one ES384 key, kid
#: 44823f3d-0b01-4a6c-a80e-b9d3e8a7226f), shipped with the service so that the sandbox can be
#: trusted on a network that cannot reach it. Public key only.
SANDBOX_JWKS_FILE = Path(__file__).resolve().parent / "_trust" / "cds-hooks-sandbox-jwks.json"

_MAX_TOKEN_CHARS = 16 * 1024
_MAX_JWKS_BYTES = 512 * 1024
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def _settings_error(message: str) -> Exception:
    from .settings import SettingsError  # settings imports this module

    return SettingsError([message])


# --------------------------------------------------------------------------- configuration
# The parsers below are used by cds_service/settings.py (one field per variable); they raise
# ValueError("must ...") and the settings loader names the variable.


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
    return any((urlsplit(u).hostname or "").lower() == _SANDBOX_HOST for u in urls)


@dataclass(frozen=True)
class TrustedIssuer:
    """One CDS client this service trusts."""

    issuer: str
    jwks_url: str
    #: further JWKS URLs a token may name in its ``jku`` header
    jku_allowlist: tuple[str, ...] = ()
    #: when set, the token's ``tenant`` must be one of these
    tenants: tuple[str, ...] = ()

    def allows_jku(self, url: str) -> bool:
        return url == self.jwks_url or url in self.jku_allowlist


@dataclass(frozen=True)
class AuthSettings:
    """Client authentication settings, taken from ``Settings`` (README, Security)."""

    disabled: bool = False
    issuers: tuple[TrustedIssuer, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    public_base_url: str | None = None
    audience_aliases: tuple[str, ...] = ()
    leeway_seconds: int = 60
    max_lifetime_seconds: int = 3600
    jwks_ttl_seconds: int = 300
    jwks_max_stale_seconds: int = 3600
    jwks_min_refetch_seconds: int = 30
    jwks_timeout_seconds: float = 3.0
    protect_discovery: bool = False
    allow_sandbox: bool = False
    replay_cache_size: int = 200_000

    @property
    def trusted(self) -> dict[str, TrustedIssuer]:
        issuers = {i.issuer: i for i in self.issuers}
        if self.allow_sandbox and SANDBOX_ISSUER not in issuers:
            issuers[SANDBOX_ISSUER] = TrustedIssuer(SANDBOX_ISSUER, SANDBOX_JWKS_URL)
        return issuers

    @classmethod
    def from_settings(cls, settings: Any) -> AuthSettings:
        issuers: list[TrustedIssuer] = []
        for item in (*settings.trusted_issuers, *settings.auth_config):
            if any(i.issuer == item["iss"] for i in issuers):
                raise _settings_error(f"trusted issuer {item['iss']!r} is configured twice "
                                      "(CDS_TRUSTED_ISSUERS, CDS_AUTH_CONFIG)")
            issuers.append(TrustedIssuer(item["iss"], item["jwks_url"], tuple(item["jku"]),
                                         tuple(item["tenant"])))
        return cls(
            disabled=settings.auth_disabled,
            issuers=tuple(issuers),
            algorithms=tuple(settings.auth_algorithms),
            public_base_url=settings.public_base_url,
            audience_aliases=tuple(settings.auth_audience_aliases),
            leeway_seconds=settings.auth_leeway_seconds,
            max_lifetime_seconds=settings.auth_max_lifetime_seconds,
            jwks_ttl_seconds=settings.auth_jwks_ttl_seconds,
            jwks_max_stale_seconds=settings.auth_jwks_max_stale_seconds,
            jwks_min_refetch_seconds=settings.auth_jwks_min_refetch_seconds,
            protect_discovery=settings.auth_discovery,
            allow_sandbox=settings.auth_allow_sandbox,
            replay_cache_size=settings.auth_replay_cache_size,
        )


# --------------------------------------------------------------------------- failures


class AuthFailure(Exception):
    """A token failed one check. ``check`` names it for the log; clients see a generic 401."""

    def __init__(self, check: str, issuer: str | None = None, kid: str | None = None):
        super().__init__(check)
        self.check = check
        self.issuer = issuer
        self.kid = kid


class JwksUnavailable(Exception):
    """No usable copy of a JWKS: the fetch failed and the cached one (if any) is too old."""


@dataclass(frozen=True)
class ClientIdentity:
    issuer: str
    subject: str | None
    tenant: str | None
    kid: str


# --------------------------------------------------------------------------- JWKS cache


@dataclass
class _JwksEntry:
    keys: dict[str, dict]
    fetched_at: float  # when this copy was fetched (monotonic)
    attempted_at: float  # when a fetch was last tried, successful or not


def fetch_jwks(url: str, timeout: float) -> dict[str, dict]:
    """GET a JWK Set; return its usable public signing keys by ``kid``. Raises on any problem."""
    with requests.get(url, timeout=timeout, stream=True, allow_redirects=False,
                      headers={"Accept": "application/json"}) as response:
        if response.status_code != 200:
            raise JwksUnavailable(f"status {response.status_code}")
        body = b""
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > _MAX_JWKS_BYTES:
                raise JwksUnavailable("JWKS too large")
    return usable_signing_keys(json.loads(body))


def usable_signing_keys(data: Any) -> dict[str, dict]:
    """The public signing keys of a JWK Set, by ``kid``. Raises on a body that is not a set."""
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        raise JwksUnavailable("not a JWK Set")
    usable: dict[str, dict] = {}
    for key in keys:
        if not isinstance(key, dict) or not isinstance(key.get("kid"), str):
            continue
        if key.get("kty") not in ("RSA", "EC"):  # never a symmetric ("oct") key
            continue
        if key.get("use", "sig") != "sig" or "d" in key:  # signing keys, public halves only
            continue
        usable.setdefault(key["kid"], key)
    return usable


def sandbox_jwks() -> dict[str, dict]:
    """The CDS Hooks sandbox's public signing keys, from the copy shipped with the service."""
    return usable_signing_keys(json.loads(SANDBOX_JWKS_FILE.read_text(encoding="utf-8")))


class JwksCache:
    """JWK Sets by URL, kept for ``ttl`` seconds and re-fetched once on an unknown ``kid`` (no
    more often than ``min_refetch`` seconds per URL). When a re-fetch fails, the last good copy
    stays usable until it is ``ttl + max_stale`` seconds old, so that a brief outage of the
    client's JWKS endpoint does not lock it out."""

    def __init__(self, ttl: float, max_stale: float, min_refetch: float, timeout: float,
                 fetch: Callable[[str, float], dict[str, dict]] = fetch_jwks,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.max_stale = max_stale
        self.min_refetch = min_refetch
        self.timeout = timeout
        self._fetch = fetch
        self._clock = clock
        self._entries: dict[str, _JwksEntry] = {}
        self._failed_at: dict[str, float] = {}  # URLs never fetched yet: when the last try failed
        # JWK Sets shipped with the service, by URL: never fetched, never expire
        self._pinned: dict[str, dict[str, dict]] = {}
        self._lock = threading.Lock()

    def pin(self, url: str, keys: dict[str, dict]) -> None:
        """Answer for ``url`` from ``keys`` (a set shipped with the service), never fetching."""
        with self._lock:
            self._pinned[url] = dict(keys)

    def get_key(self, url: str, kid: str) -> dict | None:
        """The JWK with ``kid`` from the set at ``url``, or None if the set has no such key."""
        pinned = self._pinned.get(url)
        if pinned is not None:
            return pinned.get(kid)
        with self._lock:
            entry = self._entries.get(url)
            now = self._clock()
            if entry is None:
                failed_at = self._failed_at.get(url)
                if failed_at is not None and now - failed_at < self.min_refetch:
                    raise JwksUnavailable("JWKS endpoint did not answer a moment ago")
                entry = self._refresh(url, None, now)
            elif now - entry.fetched_at >= self.ttl and self._may_fetch(entry, now):
                entry = self._refresh(url, entry, now)
            elif kid not in entry.keys and self._may_fetch(entry, now):
                entry = self._refresh(url, entry, now)  # a rotated key: look once more
            if now - entry.fetched_at >= self.ttl + self.max_stale:
                raise JwksUnavailable("cached JWKS too old and the endpoint does not answer")
            return entry.keys.get(kid)

    def _may_fetch(self, entry: _JwksEntry, now: float) -> bool:
        return now - entry.attempted_at >= self.min_refetch

    def _refresh(self, url: str, entry: _JwksEntry | None, now: float) -> _JwksEntry:
        try:
            keys = self._fetch(url, self.timeout)
        except Exception as exc:  # network, status, JSON: all mean "no fresh copy"
            log.warning("JWKS fetch failed", extra={"jwks_url": url,
                                                    "error_type": type(exc).__name__,
                                                    "stale_copy": entry is not None})
            if entry is None:
                self._failed_at[url] = now
                raise JwksUnavailable("JWKS endpoint does not answer") from None
            entry.attempted_at = now
            return entry
        fresh = _JwksEntry(keys, now, now)
        self._entries[url] = fresh
        self._failed_at.pop(url, None)
        log.info("JWKS fetched", extra={"jwks_url": url, "key_count": len(keys)})
        return fresh


# --------------------------------------------------------------------------- replay cache


class ReplayCache:
    """``(iss, jti)`` pairs seen, each kept until it expires; bounded (the soonest to expire go
    first when full). In-process, so per worker; ``SharedReplayCache`` adds the shared database.
    """

    def __init__(self, capacity: int, clock: Callable[[], float] = time.time):
        self.capacity = capacity
        self._clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()
        self._warned_full = False

    def add(self, key: tuple[str, str], expires_at: float) -> bool:
        """Remember ``key``; False if it was already seen (a replay)."""
        with self._lock:
            now = self._clock()
            while self._expiry and self._expiry[0][0] <= now:
                expires, old = heapq.heappop(self._expiry)
                if self._seen.get(old) == expires:
                    del self._seen[old]
            if key in self._seen:
                return False
            while len(self._seen) >= self.capacity:
                expires, old = heapq.heappop(self._expiry)
                if self._seen.get(old) == expires:
                    del self._seen[old]
                    if not self._warned_full:
                        self._warned_full = True
                        log.warning("jti replay cache full: forgetting the oldest entries",
                                    extra={"capacity": self.capacity})
            self._seen[key] = expires_at
            heapq.heappush(self._expiry, (expires_at, key))
            return True

    def __len__(self) -> int:
        return len(self._seen)


class SharedReplayCache:
    """Replay protection across every worker and replica: the in-process cache first (a replay
    to the same worker costs no query), then the feedback database that all of them share,
    where the first to record a token's (iss, jti) wins. Fails closed: if the database cannot be
    reached the call is refused (503), never let through unchecked."""

    def __init__(self, local: ReplayCache, store: Any):
        self.local = local
        self.store = store

    def add(self, key: tuple[str, str], expires_at: float) -> bool:
        if not self.local.add(key, expires_at):
            return False
        digest = hashlib.sha256("\0".join(key).encode("utf-8")).hexdigest()
        return self.store.remember_token(digest, datetime.fromtimestamp(expires_at, UTC))

    def __len__(self) -> int:
        return len(self.local)


# --------------------------------------------------------------------------- verification


def _normalise_url(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port and not ((scheme == "https" and port == 443) or (scheme == "http" and port == 80)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path.rstrip("/"), "", ""))


def _number(payload: dict, name: str) -> float:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthFailure("missing-claim")
    return float(value)


def _safe(value: Any, limit: int = 200) -> str | None:
    """A header or claim value fit for the log: a short printable string, or None."""
    if not isinstance(value, str):
        return None
    return re.sub(r"[^\x20-\x7e]", "?", value[:limit])


class TokenVerifier:
    def __init__(self, settings: AuthSettings, jwks: JwksCache | None = None,
                 replay: ReplayCache | None = None, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.issuers = settings.trusted
        self.algorithms = frozenset(settings.algorithms)
        self.jwks = jwks or JwksCache(settings.jwks_ttl_seconds, settings.jwks_max_stale_seconds,
                                      settings.jwks_min_refetch_seconds,
                                      settings.jwks_timeout_seconds)
        if settings.allow_sandbox and SANDBOX_ISSUER not in {i.issuer for i in settings.issuers}:
            # the shipped copy of the sandbox's public JWKS: works offline (development only)
            self.jwks.pin(SANDBOX_JWKS_URL, sandbox_jwks())
        # "is not None": a cache is falsy while empty (it has a length)
        self.replay = replay if replay is not None else ReplayCache(
            settings.replay_cache_size, clock)
        self._clock = clock
        # each JWK made into a key once, not on every call (about 0.1 ms each)
        self._keys: dict[tuple[str, str, str], tuple[dict, jwt.PyJWK]] = {}

    def verify(self, authorization: str | None, audiences: list[str]) -> ClientIdentity:
        token = self._bearer(authorization)
        parsed = _parse_plain_token(token)
        if parsed is not None:
            header, claims = parsed
        else:  # anything unusual: PyJWT's own parser, and its verdict
            try:
                header = jwt.get_unverified_header(token)
                claims = jwt.decode(token, options={"verify_signature": False})
            except (jwt.PyJWTError, ValueError, TypeError):
                raise AuthFailure("malformed-token") from None
        if not isinstance(claims, dict):
            raise AuthFailure("malformed-token")
        kid = header.get("kid")
        issuer_name = claims.get("iss")
        log_iss, log_kid = _safe(issuer_name), _safe(kid)

        def fail(check: str) -> AuthFailure:
            return AuthFailure(check, log_iss, log_kid)

        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise fail("missing-alg")
        if alg not in self.algorithms:  # none, HS*, and whatever is not configured
            raise fail("algorithm-not-allowed")
        if not isinstance(kid, str) or not kid:
            raise fail("missing-kid")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise fail("typ-not-jwt")
        if "crit" in header:
            raise fail("unsupported-crit")
        issuer = self.issuers.get(issuer_name) if isinstance(issuer_name, str) else None
        if issuer is None:
            raise fail("untrusted-issuer")

        jwks_url = issuer.jwks_url
        if "jku" in header:
            jku = header["jku"]
            if not isinstance(jku, str) or not issuer.allows_jku(jku):
                raise fail("jku-not-allowed")
            jwks_url = jku
        try:
            jwk_data = self.jwks.get_key(jwks_url, kid)
        except JwksUnavailable:
            raise fail("jwks-unavailable") from None
        if jwk_data is None:
            raise fail("unknown-kid")
        if jwk_data.get("alg", alg) != alg or (
            alg in _EC_CURVES and jwk_data.get("crv") != _EC_CURVES[alg]
        ):
            raise fail("key-algorithm-mismatch")
        key = self._keys.get((jwks_url, kid, alg))
        if key is None or key[0] is not jwk_data:  # a JWKS fetched anew has new key dicts
            try:
                key = (jwk_data, jwt.PyJWK(jwk_data, algorithm=alg))
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                raise fail("key-algorithm-mismatch") from None
            if len(self._keys) >= _MAX_CACHED_KEYS:
                self._keys.clear()
            self._keys[(jwks_url, kid, alg)] = key

        settings = self.settings
        try:
            if parsed is not None:  # read already: check the signature and claims directly
                payload = _verified_claims(token, claims, key[1], issuer.issuer,
                                           settings.leeway_seconds)
            else:
                payload = jwt.decode(
                    token, key=key[1], algorithms=[alg], issuer=issuer.issuer,
                    leeway=settings.leeway_seconds,
                    options={"require": list(_REQUIRED_CLAIMS), "verify_aud": False,
                             "enforce_minimum_key_length": True},
                )
        except jwt.InvalidSignatureError:
            raise fail("bad-signature") from None
        except jwt.ExpiredSignatureError:
            raise fail("expired") from None
        except jwt.ImmatureSignatureError:
            raise fail("not-yet-valid") from None
        except jwt.MissingRequiredClaimError:
            raise fail("missing-claim") from None
        except jwt.InvalidKeyError:
            raise fail("key-algorithm-mismatch") from None
        except jwt.PyJWTError:
            raise fail("invalid-claims") from None

        now = self._clock()
        exp, iat = _number(payload, "exp"), _number(payload, "iat")
        if exp - iat > settings.max_lifetime_seconds or (
            exp - now > settings.max_lifetime_seconds + settings.leeway_seconds
        ):
            raise fail("lifetime-too-long")
        if not _audience_matches(payload.get("aud"), audiences):
            raise fail("wrong-audience")
        tenant = payload.get("tenant")
        if issuer.tenants and tenant not in issuer.tenants:
            raise fail("tenant-mismatch")
        jti = payload.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 512:
            raise fail("missing-claim")
        remember_until = max(exp + settings.leeway_seconds, now + settings.max_lifetime_seconds)
        if not self.replay.add((issuer.issuer, jti), remember_until):
            raise fail("replayed-jti")
        subject = payload.get("sub")
        return ClientIdentity(issuer.issuer, subject if isinstance(subject, str) else None,
                              tenant if isinstance(tenant, str) else None, kid)

    @staticmethod
    def _bearer(authorization: str | None) -> str:
        if not authorization:
            raise AuthFailure("missing-token")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthFailure("missing-token")
        if len(token) > _MAX_TOKEN_CHARS:
            raise AuthFailure("malformed-token")
        return token


_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_MAX_CACHED_KEYS = 256


def _parse_plain_token(token: str) -> tuple[dict, dict] | None:
    """The header and claims of a compact JWS of the ordinary shape (three base64url segments,
    JSON objects, no ``crit``), read once; None for anything else, which PyJWT's parser then
    judges. PyJWT's reading costs several times more: each of its passes checks the base64
    alphabet one character at a time, and its checks took three passes."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
        return None
    try:
        header = json.loads(jwt.utils.base64url_decode(parts[0]))
        claims = json.loads(jwt.utils.base64url_decode(parts[1]))
    except (ValueError, TypeError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "crit" in header:
        return None
    return header, claims


_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")


def _verified_claims(token: str, claims: dict, key: jwt.PyJWK, issuer: str,
                     leeway: float) -> dict:
    """What PyJWT's verified ``decode`` checks, with our options, on a token
    ``_parse_plain_token`` read already (so without reading it a third time): the key's length,
    the signature, the required claims, then ``iat``, ``nbf``, ``exp``, ``iss``, ``sub`` and
    ``jti`` in PyJWT's order, raising PyJWT's exceptions. Returns ``claims``."""
    algorithm = key.Algorithm
    problem = algorithm.check_key_length(key.key)
    if problem:
        raise jwt.InvalidKeyError(problem)
    signing_input, _, encoded_signature = token.rpartition(".")
    try:
        signature = jwt.utils.base64url_decode(encoded_signature)
    except (binascii.Error, ValueError):
        raise jwt.DecodeError("Invalid crypto padding") from None
    if not algorithm.verify(signing_input.encode("ascii"), key.key, signature):
        raise jwt.InvalidSignatureError("Signature verification failed")
    for name in _REQUIRED_CLAIMS:
        if claims.get(name) is None:
            raise jwt.MissingRequiredClaimError(name)
    now = time.time()
    limits = (("iat", jwt.InvalidIssuedAtError), ("nbf", jwt.DecodeError),
              ("exp", jwt.DecodeError))
    instants = {}
    for name, error in limits:
        if name in claims:
            try:
                instants[name] = int(claims[name])
            except (ValueError, TypeError, OverflowError):
                raise error(f"{name} must be an integer") from None
            if name == "exp" and instants[name] <= now - leeway:
                raise jwt.ExpiredSignatureError("Signature has expired")
            if name != "exp" and instants[name] > now + leeway:
                raise jwt.ImmatureSignatureError(f"The token is not yet valid ({name})")
    if not isinstance(claims["iss"], str) or claims["iss"] != issuer:
        raise jwt.InvalidIssuerError("Invalid issuer")
    if "sub" in claims and not isinstance(claims["sub"], str):
        raise jwt.exceptions.InvalidSubjectError("Subject must be a string")
    if not isinstance(claims["jti"], str):
        raise jwt.exceptions.InvalidJTIError("JWT ID must be a string")
    return claims


def _audience_matches(aud: Any, audiences: list[str]) -> bool:
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values:
        return False
    expected = {_normalise_url(a) for a in audiences}
    return any(isinstance(v, str) and _normalise_url(v) in expected for v in values)


def expected_audiences(settings: AuthSettings, host_url: str, path: str) -> list[str]:
    """The URLs a token for this request may name in ``aud``: the endpoint's URL under the
    configured public base URL (else the scheme and host the request came in on) and under
    each configured alias."""
    bases = [settings.public_base_url or host_url, *settings.audience_aliases]
    return [base.rstrip("/") + path for base in bases]


# --------------------------------------------------------------------------- Flask wiring

_HOOK_ENDPOINTS = frozenset({"services.call_service", "services.feedback"})
_DISCOVERY_ENDPOINTS = frozenset({"discovery.discovery"})


def unauthorized() -> Response:
    from .http.errors import error_response

    response = error_response(401, "The request could not be authenticated.")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def init_app(app: Flask) -> None:
    """Check client JWTs before the hook and feedback endpoints (and discovery if configured)."""
    settings = AuthSettings.from_settings(app.extensions["cds"].settings)
    protected = set(_HOOK_ENDPOINTS)
    if settings.protect_discovery:
        protected |= _DISCOVERY_ENDPOINTS
    store = getattr(app.extensions.get("cds"), "feedback_store", None)
    replay = (SharedReplayCache(ReplayCache(settings.replay_cache_size), store)
              if store is not None and hasattr(store, "remember_token") else None)
    verifier = None if settings.disabled else TokenVerifier(settings, replay=replay)
    app.extensions["cds_auth"] = verifier
    if settings.disabled:
        log.warning("CLIENT AUTHENTICATION IS DISABLED (CDS_AUTH_DISABLED=true): any caller can "
                    "call the hook endpoints; use this for local testing only")
    elif not settings.trusted:
        log.warning("no trusted CDS client issuers configured (CDS_TRUSTED_ISSUERS or "
                    "CDS_AUTH_CONFIG): every hook and feedback call will be refused with 401")
    elif settings.allow_sandbox:
        log.warning("the CDS Hooks sandbox issuer is trusted (CDS_AUTH_ALLOW_SANDBOX=true): its "
                    "private key is public; development only")

    @app.before_request
    def _authenticate() -> Response | None:
        if request.method == "OPTIONS" or request.endpoint not in protected:
            return None  # CORS preflight carries no credentials
        if settings.disabled:
            return None
        audiences = expected_audiences(settings, request.host_url, request.path)
        try:
            identity = current_app.extensions["cds_auth"].verify(
                request.headers.get("Authorization"), audiences)
        except AuthFailure as failure:
            g.auth_failure = failure.check
            log.warning("client authentication failed",
                        extra={"request_id": g.get("request_id"), "auth_check": failure.check,
                               "auth_issuer": failure.issuer, "auth_kid": failure.kid})
            return unauthorized()
        g.client_issuer = identity.issuer
        g.client_tenant = identity.tenant
        return None


__all__ = [
    "AuthFailure",
    "AuthSettings",
    "ClientIdentity",
    "JwksCache",
    "ReplayCache",
    "TokenVerifier",
    "TrustedIssuer",
    "expected_audiences",
    "init_app",
]
