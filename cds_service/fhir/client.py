"""Fetch the prefetch data a client left out from its ``fhirServer``, with its access token.

CDS Hooks 2.0 §FHIR Resource Access: the service may query ``fhirServer`` with
``fhirAuthorization.access_token`` as a Bearer token. We only do so for a base URL an operator
put on the allow-list (so the service cannot be turned against internal hosts), only over
http(s), never following redirects, and never sending the token to any URL outside that base
(a search Bundle's ``next`` link included). Every outcome that is not data becomes a
:class:`FetchFailed` with a short reason that holds no token and no patient data.

The client knows nothing of hooks: it is handed the queries, and (``record``) where to count
each query's outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urljoin

import orjson
import requests
from cachetools import TTLCache

from ..deadline import current_deadline
from ..errors import ServiceError
from ..settings.parsers import normalize_base_url
from .transport import TIMEOUT, RequestFailed, get_json, new_session
from .urls import is_safe_query, within_base

log = logging.getLogger(__name__)

# How a query ended (an outcome word) and, when it was sent, how long it took.
OutcomeRecorder = Callable[[str, float | None], None]


class FetchFailed(ServiceError):
    """A FHIR query could not be answered (unreachable, refused, timed out, not found)."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class _Fetch:
    """One query's fetch in its own thread: its result once ``done`` is set."""

    def __init__(self):
        self.done = threading.Event()
        self.result: tuple[str, bytes | RequestFailed, float] | None = None


def _not_recorded(outcome: str, seconds: float | None) -> None:
    """The recorder of a client whose outcomes nobody counts (a benchmark, a test)."""


class FhirFetcher:
    """Runs prefetch queries against allow-listed FHIR servers: concurrent, cached, bounded."""

    def __init__(
        self,
        allowed_servers: Iterable[str] = (),
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        deadline: float = 8.0,
        max_pages: int = 100,
        max_resources: int = 2000,
        max_response_bytes: int = 5 * 1024 * 1024,
        cache_ttl: float = 60.0,
        cache_size: int = 256,
        max_workers: int = 8,
        record: OutcomeRecorder = _not_recorded,
    ):
        allowed = set()
        for server in allowed_servers:
            normalized = normalize_base_url(server)
            if normalized is None:
                raise ValueError("an allowed FHIR server is not a plain http(s) base URL")
            allowed.add(normalized)
        self.allowed = frozenset(allowed)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline
        self.max_pages = max_pages
        self.max_resources = max_resources
        self.max_response_bytes = max_response_bytes
        # requests in flight to one FHIR server from this process: a server that stalls holds
        # at most these, never the fetches of calls to another server
        self.max_workers = max_workers
        self._record = record
        self._in_flight: dict[str, threading.BoundedSemaphore] = {}
        self._cache: TTLCache | None = (
            TTLCache(maxsize=cache_size, ttl=cache_ttl) if cache_size > 0 and cache_ttl > 0
            else None
        )
        self._cache_lock = threading.Lock()
        # Tokens are cache-key material only as a keyed hash, with a key that never leaves
        # this process: a memory dump of the cache does not give tokens back.
        self._token_key = secrets.token_bytes(32)
        self._pid: int | None = None
        self._session: requests.Session | None = None
        self._init_lock = threading.Lock()

    def allows(self, fhir_server: str) -> bool:
        return normalize_base_url(fhir_server) in self.allowed

    def fetch_all(
        self, fhir_server: str, access_token: str | None, queries: dict[str, str]
    ) -> dict[str, dict | None | FetchFailed]:
        """Run each query against the server; a key's value is the resource/Bundle, None when
        the server says it does not exist, or the FetchFailed that stopped it."""
        base = normalize_base_url(fhir_server)
        if base is None or base not in self.allowed:
            return {key: FetchFailed(key, "fetching from this fhirServer is not enabled")
                    for key in queries}
        # within the hook call's own time budget too (cds_service/deadline.py)
        call = current_deadline()
        deadline = time.monotonic() + min(self.deadline,
                                          call.remaining() if call else self.deadline)
        token_id = self._token_id(access_token)
        results: dict[str, dict | None | FetchFailed] = {}
        pending: dict[str, _Fetch] = {}
        session = self._resources()
        slots = self._slots(base)
        for key, query in queries.items():
            if not is_safe_query(query):
                results[key] = FetchFailed(key, "its query cannot be sent safely")
                self._record("unsafe_query", None)
                continue
            cached = self._cache_get((base, query, token_id))
            if cached is not None:
                results[key] = orjson.loads(cached)
                self._record("cached", None)
                continue
            if not slots.acquire(blocking=False):
                results[key] = FetchFailed(
                    key, "the FHIR server has as many requests from this service in flight as "
                         "allowed (it is slow to answer)")
                self._record("busy", None)
                log.warning("FHIR fetch of %s not sent: too many requests in flight to that "
                            "server", key)
                continue
            # One thread per query, not a shared pool: a server that stalls keeps only its own
            # fetches waiting, and each of them ends by the deadline (see transport.py).
            job = pending[key] = _Fetch()
            threading.Thread(
                target=self._run, args=(job, slots, session, base, query, access_token, deadline),
                name="fhir-fetch", daemon=True,
            ).start()
        for key, job in pending.items():
            # the threads bound their own time; this wait is the backstop
            job.done.wait(max(0.0, deadline - time.monotonic()) + 0.5)
            if job.result is None:
                outcome, body, seconds = TIMEOUT[0], RequestFailed(*TIMEOUT), self.deadline
            else:
                outcome, body, seconds = job.result
            self._record(outcome, seconds)
            if isinstance(body, RequestFailed):
                results[key] = FetchFailed(key, body.reason)
                # the key and the reason only: no URL (it holds the patient id), no token
                log.warning("FHIR fetch of %s failed: %s", key, body.reason)
                continue
            self._cache_put((base, queries[key], token_id), body)
            results[key] = orjson.loads(body)
        return results

    def _slots(self, base: str) -> threading.BoundedSemaphore:
        with self._init_lock:
            slots = self._in_flight.get(base)
            if slots is None:
                slots = self._in_flight[base] = threading.BoundedSemaphore(self.max_workers)
            return slots

    def _run(self, job: _Fetch, slots: threading.BoundedSemaphore, *args) -> None:
        try:
            job.result = self._timed_fetch(*args)
        finally:
            slots.release()
            job.done.set()

    def _timed_fetch(self, session: requests.Session, base: str, query: str,
                     token: str | None, deadline: float
                     ) -> tuple[str, bytes | RequestFailed, float]:
        started = time.monotonic()
        try:
            body: bytes | RequestFailed = self._fetch_one(session, base, query, token, deadline)
            outcome = "ok"
        except RequestFailed as failure:
            body, outcome = failure, failure.outcome
        except Exception as exc:  # never a 500 for what a remote server does
            log.warning("FHIR fetch failed unexpectedly (%s)", exc.__class__.__name__)
            body = RequestFailed("error", "the FHIR server's answer could not be read")
            outcome = "error"
        return outcome, body, time.monotonic() - started

    def _fetch_one(self, session: requests.Session, base: str, query: str,
                   token: str | None, deadline: float) -> bytes:
        """Fetch one query, following search pages; return the result serialised as JSON."""
        url = f"{base}/{query}"
        is_search = "?" in query or "/" not in query
        budget = self.max_response_bytes
        resources = 0
        first: dict | None = None
        seen = set()
        for _page in range(self.max_pages):
            seen.add(url)
            body, size = get_json(session, url, token, deadline, budget,
                                  self.connect_timeout, self.read_timeout)
            budget -= size
            if body.get("resourceType") == "OperationOutcome":
                raise RequestFailed("outcome",
                                    "the FHIR server answered with an OperationOutcome")
            if not is_search:
                return orjson.dumps(body)
            if body.get("resourceType") != "Bundle":
                raise RequestFailed("invalid", "the FHIR server's search answer is not a Bundle")
            entries = body.get("entry") or []
            if not isinstance(entries, list):
                raise RequestFailed("invalid",
                                    "the FHIR server's search answer is not a valid Bundle")
            resources += len(entries)
            if resources > self.max_resources:
                raise RequestFailed(
                    "too_many_resources",
                    f"the search result has more than {self.max_resources} resources")
            if first is None:
                first = body
                first["entry"] = list(entries)
            else:
                first["entry"].extend(entries)
            next_url = _next_link(body)
            if next_url is None:
                first.pop("link", None)  # its links name pages of a search now merged
                if not first["entry"]:
                    del first["entry"]
                return orjson.dumps(first)
            next_url = urljoin(url, next_url)
            if not within_base(next_url, base):
                # the token goes to the fhirServer it came with, and nowhere else
                raise RequestFailed("foreign_link",
                                    "a search page links outside the fhirServer; not followed")
            if next_url in seen:
                raise RequestFailed("invalid",
                                    "the FHIR server's search pages link back to themselves")
            url = next_url
        raise RequestFailed("too_many_pages",
                            f"the search result has more than {self.max_pages} pages")

    def _resources(self) -> requests.Session:
        # Built in the process that uses it: gunicorn forks workers after create_app, and
        # neither threads nor pooled sockets survive a fork.
        with self._init_lock:
            if self._pid != os.getpid() or self._session is None:
                self._session = new_session(self.max_workers)
                self._in_flight = {}
                self._pid = os.getpid()
            return self._session

    def _token_id(self, token: str | None) -> bytes | None:
        if not token:
            return None
        return hmac.new(self._token_key, token.encode("utf-8"), hashlib.sha256).digest()

    def _cache_get(self, key: tuple) -> bytes | None:
        if self._cache is None:
            return None
        with self._cache_lock:
            return self._cache.get(key)

    def _cache_put(self, key: tuple, value: bytes) -> None:
        if self._cache is None:
            return
        with self._cache_lock:
            self._cache[key] = value

    def close(self) -> None:
        with self._init_lock:
            if self._session is not None and self._pid == os.getpid():
                self._session.close()
            self._session = self._pid = None


def _next_link(bundle: dict) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None
