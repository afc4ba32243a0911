"""Reading a compact JWS without PyJWT's slower parser: the header and claims of a token of the
ordinary shape, and the checks PyJWT's verified ``decode`` makes, done on what was read once.
Anything unusual is left to PyJWT (cds_service/auth/verify.py)."""

from __future__ import annotations

import binascii
import json
import re
import time

import jwt

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def read_plain_token(token: str) -> tuple[dict, dict] | None:
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


REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")


def verified_claims(token: str, claims: dict, key: jwt.PyJWK, issuer: str,
                    leeway: float) -> dict:
    """What PyJWT's verified ``decode`` checks, with our options, on a token
    ``read_plain_token`` read already (so without reading it a third time): the key's length,
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
    for name in REQUIRED_CLAIMS:
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
