"""The JWK Sets of the trusted CDS clients: fetched over HTTPS, kept for a while, re-fetched on
a rotated key, and a stale copy used through a brief outage of the client's endpoint. The CDS
Hooks sandbox's set is shipped with the service and never fetched."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ..errors import ServiceError

log = logging.getLogger("cds_service.auth")

#: The sandbox's public JWKS (its build/.well-known/jwks.json: one ES384 key, kid
#: 44823f3d-0b01-4a6c-a80e-b9d3e8a7226f), shipped with the service so that the sandbox can be
#: trusted on a network that cannot reach it. Public key only.
SANDBOX_JWKS_FILE = (Path(__file__).resolve().parent.parent / "_trust"
                     / "cds-hooks-sandbox-jwks.json")
#: Seconds one JWKS fetch may take.
FETCH_TIMEOUT_SECONDS = 3.0

_MAX_JWKS_BYTES = 512 * 1024


class JwksUnavailable(ServiceError):
    """No usable copy of a JWKS: the fetch failed and the cached one (if any) is too old."""


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
