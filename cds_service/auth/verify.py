"""Verifying the signed JWT a CDS client sends with each call, one named check after another.

What is checked, in order (each failure is one named check, logged without the token, and
answered 401 with a generic body): the header's shape, the algorithm allow-list, a trusted
issuer, the ``jku`` allow-list, the key (from the issuer's JWKS, cached), the signature, the
times (``exp``, ``nbf``, ``iat``, a maximum lifetime), the audience, the tenant, and ``jti``
replay.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from ..errors import ServiceError
from ..settings.auth import AuthSettings
from .audience import audience_matches
from .config import SANDBOX, TrustedIssuer, trusted_issuers
from .jwks import FETCH_TIMEOUT_SECONDS, JwksCache, JwksUnavailable, sandbox_jwks
from .replay import ReplayCache
from .token import REQUIRED_CLAIMS, read_plain_token, verified_claims

_MAX_TOKEN_CHARS = 16 * 1024
_MAX_CACHED_KEYS = 256
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
#: PyJWT's verdicts on the signature and the claims, as our checks, the first that matches.
_PYJWT_CHECKS = (
    (jwt.InvalidSignatureError, "bad-signature"),
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not-yet-valid"),
    (jwt.MissingRequiredClaimError, "missing-claim"),
    (jwt.InvalidKeyError, "key-algorithm-mismatch"),
    (jwt.PyJWTError, "invalid-claims"),
)


class AuthFailure(ServiceError):
    """A token failed one check. ``check`` names it for the log; clients see a generic 401."""

    def __init__(self, check: str, issuer: str | None = None, kid: str | None = None):
        super().__init__(check)
        self.check = check
        self.issuer = issuer
        self.kid = kid


@dataclass(frozen=True)
class ClientIdentity:
    issuer: str
    subject: str | None
    tenant: str | None
    kid: str


@dataclass(frozen=True)
class UnverifiedToken:
    """A bearer token as read before any check: its header and claims, trusted for nothing."""

    token: str
    header: dict
    claims: dict
    #: read by ``read_plain_token`` (else by PyJWT's parser, which then verifies it too)
    plain: bool

    def fail(self, check: str) -> AuthFailure:
        """The failure of ``check``, naming the token's issuer and key for the log."""
        return AuthFailure(check, _safe(self.claims.get("iss")), _safe(self.header.get("kid")))


class TokenVerifier:
    def __init__(self, settings: AuthSettings, jwks: JwksCache | None = None,
                 replay: ReplayCache | None = None, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.issuers = trusted_issuers(settings)
        self.algorithms = frozenset(settings.auth_algorithms)
        self.jwks = jwks or JwksCache(settings.auth_jwks_ttl_seconds,
                                      settings.auth_jwks_max_stale_seconds,
                                      settings.auth_jwks_min_refetch_seconds,
                                      FETCH_TIMEOUT_SECONDS)
        if self.issuers.get(SANDBOX.issuer) is SANDBOX:
            # the shipped copy of the sandbox's public JWKS: works offline (development only)
            self.jwks.pin(SANDBOX.jwks_url, sandbox_jwks())
        # "is not None": a cache is falsy while empty (it has a length)
        self.replay = replay if replay is not None else ReplayCache(
            settings.auth_replay_cache_size, clock)
        self._clock = clock
        # each JWK made into a key once, not on every call (about 0.1 ms each)
        self._keys: dict[tuple[str, str, str], tuple[dict, jwt.PyJWK]] = {}

    def verify(self, authorization: str | None, audiences: list[str]) -> ClientIdentity:
        """The client that signed the bearer token in ``authorization``, for a call whose token
        must name one of ``audiences``; raises AuthFailure naming the first check that fails."""
        token = read_token(authorization)
        alg = self._check_header(token)
        issuer = self._trusted_issuer(token)
        key = self._signing_key(token, self._jwks_url(token, issuer), alg)
        claims = self._verified_claims(token, key, alg, issuer)
        now = self._clock()
        exp = self._check_lifetime(token, claims, now)
        if not audience_matches(claims.get("aud"), audiences):
            raise token.fail("wrong-audience")
        tenant = claims.get("tenant")
        if issuer.tenants and tenant not in issuer.tenants:
            raise token.fail("tenant-mismatch")
        self._check_replay(token, claims, issuer, exp, now)
        subject = claims.get("sub")
        return ClientIdentity(issuer.issuer, subject if isinstance(subject, str) else None,
                              tenant if isinstance(tenant, str) else None, token.header["kid"])

    def _check_header(self, token: UnverifiedToken) -> str:
        """The header's shape and an allowed algorithm; returns the algorithm."""
        header = token.header
        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise token.fail("missing-alg")
        if alg not in self.algorithms:  # none, HS*, and whatever is not configured
            raise token.fail("algorithm-not-allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise token.fail("missing-kid")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise token.fail("typ-not-jwt")
        if "crit" in header:
            raise token.fail("unsupported-crit")
        return alg

    def _trusted_issuer(self, token: UnverifiedToken) -> TrustedIssuer:
        name = token.claims.get("iss")
        issuer = self.issuers.get(name) if isinstance(name, str) else None
        if issuer is None:
            raise token.fail("untrusted-issuer")
        return issuer

    @staticmethod
    def _jwks_url(token: UnverifiedToken, issuer: TrustedIssuer) -> str:
        """The issuer's JWKS URL, or the ``jku`` the header names if the issuer allows it."""
        if "jku" not in token.header:
            return issuer.jwks_url
        jku = token.header["jku"]
        if not isinstance(jku, str) or not issuer.allows_jku(jku):
            raise token.fail("jku-not-allowed")
        return jku

    def _signing_key(self, token: UnverifiedToken, jwks_url: str, alg: str) -> jwt.PyJWK:
        """The header's ``kid`` in the issuer's JWKS, made into a key for ``alg``."""
        kid = token.header["kid"]
        try:
            jwk_data = self.jwks.get_key(jwks_url, kid)
        except JwksUnavailable:
            raise token.fail("jwks-unavailable") from None
        if jwk_data is None:
            raise token.fail("unknown-kid")
        if jwk_data.get("alg", alg) != alg or (
            alg in _EC_CURVES and jwk_data.get("crv") != _EC_CURVES[alg]
        ):
            raise token.fail("key-algorithm-mismatch")
        key = self._keys.get((jwks_url, kid, alg))
        if key is None or key[0] is not jwk_data:  # a JWKS fetched anew has new key dicts
            try:
                key = (jwk_data, jwt.PyJWK(jwk_data, algorithm=alg))
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                raise token.fail("key-algorithm-mismatch") from None
            if len(self._keys) >= _MAX_CACHED_KEYS:
                self._keys.clear()
            self._keys[(jwks_url, kid, alg)] = key
        return key[1]

    def _verified_claims(self, token: UnverifiedToken, key: jwt.PyJWK, alg: str,
                         issuer: TrustedIssuer) -> dict:
        """The claims, once the signature, the required claims, the times and the issuer hold."""
        leeway = self.settings.auth_leeway_seconds
        try:
            if token.plain:  # read already: check the signature and claims directly
                return verified_claims(token.token, token.claims, key, issuer.issuer, leeway)
            return jwt.decode(
                token.token, key=key, algorithms=[alg], issuer=issuer.issuer, leeway=leeway,
                options={"require": list(REQUIRED_CLAIMS), "verify_aud": False,
                         "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as exc:
            check = next(check for error, check in _PYJWT_CHECKS if isinstance(exc, error))
            raise token.fail(check) from None

    def _check_lifetime(self, token: UnverifiedToken, claims: dict, now: float) -> float:
        """No longer-lived a token than the settings allow; returns its ``exp``."""
        settings = self.settings
        exp, iat = _number(claims, "exp"), _number(claims, "iat")
        if exp - iat > settings.auth_max_lifetime_seconds or (
            exp - now > settings.auth_max_lifetime_seconds + settings.auth_leeway_seconds
        ):
            raise token.fail("lifetime-too-long")
        return exp

    def _check_replay(self, token: UnverifiedToken, claims: dict, issuer: TrustedIssuer,
                      exp: float, now: float) -> None:
        """A ``jti`` this issuer has not sent before; remembered until the token has expired."""
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 512:
            raise token.fail("missing-claim")
        settings = self.settings
        remember_until = max(exp + settings.auth_leeway_seconds,
                             now + settings.auth_max_lifetime_seconds)
        if not self.replay.add((issuer.issuer, jti), remember_until):
            raise token.fail("replayed-jti")


def read_token(authorization: str | None) -> UnverifiedToken:
    """The bearer token of an Authorization header, read but not verified."""
    token = _bearer(authorization)
    parsed = read_plain_token(token)
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
    return UnverifiedToken(token, header, claims, plain=parsed is not None)


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
