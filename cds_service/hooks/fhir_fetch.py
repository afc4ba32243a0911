"""Fetch the prefetch data a client left out from its ``fhirServer``, with its access token.

CDS Hooks 2.0 §FHIR Resource Access: the service may query ``fhirServer`` with
``fhirAuthorization.access_token`` as a Bearer token. We only do so for a base URL an operator
put on the allow-list (so the service cannot be turned against internal hosts), only over
http(s), never following redirects, and never sending the token to any URL outside that base
(a search Bundle's ``next`` link included). Every outcome that is not data becomes a
:class:`FetchFailed` with a short reason that holds no token and no patient data.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from urllib.parse import unquote, urljoin, urlsplit

import orjson
import requests
import urllib3
import urllib3.connection
from cachetools import TTLCache
from requests.adapters import HTTPAdapter

from ..deadline import current_deadline
from ..metrics import record_fhir_fetch
from ..settings.parsers import normalize_base_url
from .prefetch import FetchFailed

log = logging.getLogger(__name__)

# A query we send: a read (Type/id) or a search (Type?params), the id a FHIR id.
_READ = re.compile(r"[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}")
_SEARCH_PATH = re.compile(r"[A-Z][A-Za-z]{1,63}")
_UNSAFE = re.compile(r"[\s#\\\x00-\x1f\x7f]")
_CHUNK = 64 * 1024


def _within_base(url: str, base: str) -> bool:
    """True when ``url`` (absolute) addresses a resource under the normalised ``base``.

    The path is percent-decoded before it is checked, as a server decodes it before it resolves
    dot segments: ``/fhir/%2e%2e/admin`` is ``/fhir/../admin``, outside ``/fhir``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.fragment:
        return False
    path = parts.path
    for _ in range(3):  # %252e%252e decodes to %2e%2e, then to ..
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    else:
        return False  # still encoded after three rounds: not a path anyone means
    without_query = normalize_base_url(parts._replace(path=path, query="").geturl())
    return without_query is not None and (
        without_query == base or without_query.startswith(base + "/")
    )


def _valid_query(query: str) -> bool:
    if not isinstance(query, str) or _UNSAFE.search(query) or "//" in query or ".." in query:
        return False
    path, _, _params = query.partition("?")
    return bool(_READ.fullmatch(path) if "/" in path else _SEARCH_PATH.fullmatch(path))


class _Fetch:
    """One query's fetch in its own thread: its result once ``done`` is set."""

    def __init__(self):
        self.done = threading.Event()
        self.result: tuple[str, bytes | _Failure, float] | None = None


class _Failure(Exception):
    """Why one query gave no data: a reason for people, an outcome word for the metrics."""

    def __init__(self, outcome: str, reason: str):
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


_TIMEOUT = ("timeout", "the FHIR server did not answer in time")


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

    # -- the Fetcher protocol -------------------------------------------------------------

    def allows(self, fhir_server: str) -> bool:
        return normalize_base_url(fhir_server) in self.allowed

    def fetch_all(
        self, fhir_server: str, access_token: str | None, queries: dict[str, str]
    ) -> dict[str, dict | None | FetchFailed]:
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
            if not _valid_query(query):
                results[key] = FetchFailed(key, "its query cannot be sent safely")
                record_fhir_fetch("unsafe_query")
                continue
            cached = self._cache_get((base, query, token_id))
            if cached is not None:
                results[key] = orjson.loads(cached)
                record_fhir_fetch("cached")
                continue
            if not slots.acquire(blocking=False):
                results[key] = FetchFailed(
                    key, "the FHIR server has as many requests from this service in flight as "
                         "allowed (it is slow to answer)")
                record_fhir_fetch("busy")
                log.warning("FHIR fetch of %s not sent: too many requests in flight to that "
                            "server", key)
                continue
            # One thread per query, not a shared pool: a server that stalls keeps only its own
            # fetches waiting, and each of them ends by the deadline (see _read_bounded).
            job = pending[key] = _Fetch()
            threading.Thread(
                target=self._run, args=(job, slots, session, base, query, access_token, deadline),
                name="fhir-fetch", daemon=True,
            ).start()
        for key, job in pending.items():
            # the threads bound their own time; this wait is the backstop
            job.done.wait(max(0.0, deadline - time.monotonic()) + 0.5)
            if job.result is None:
                outcome, body, seconds = _TIMEOUT[0], _Failure(*_TIMEOUT), self.deadline
            else:
                outcome, body, seconds = job.result
            record_fhir_fetch(outcome, seconds)
            if isinstance(body, _Failure):
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
                     token: str | None, deadline: float) -> tuple[str, bytes | _Failure, float]:
        started = time.monotonic()
        try:
            body: bytes | _Failure = self._fetch_one(session, base, query, token, deadline)
            outcome = "ok"
        except _Failure as failure:
            body, outcome = failure, failure.outcome
        except Exception as exc:  # never a 500 for what a remote server does
            log.warning("FHIR fetch failed unexpectedly (%s)", exc.__class__.__name__)
            body = _Failure("error", "the FHIR server's answer could not be read")
            outcome = "error"
        return outcome, body, time.monotonic() - started

    # -- one query ------------------------------------------------------------------------

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
            body, size = self._get_json(session, url, token, deadline, budget)
            budget -= size
            if body.get("resourceType") == "OperationOutcome":
                raise _Failure("outcome", "the FHIR server answered with an OperationOutcome")
            if not is_search:
                return orjson.dumps(body)
            if body.get("resourceType") != "Bundle":
                raise _Failure("invalid", "the FHIR server's search answer is not a Bundle")
            entries = body.get("entry") or []
            if not isinstance(entries, list):
                raise _Failure("invalid", "the FHIR server's search answer is not a valid Bundle")
            resources += len(entries)
            if resources > self.max_resources:
                raise _Failure("too_many_resources",
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
            if not _within_base(next_url, base):
                # the token goes to the fhirServer it came with, and nowhere else
                raise _Failure("foreign_link",
                               "a search page links outside the fhirServer; not followed")
            if next_url in seen:
                raise _Failure("invalid", "the FHIR server's search pages link back to themselves")
            url = next_url
        raise _Failure("too_many_pages", f"the search result has more than {self.max_pages} pages")

    def _get_json(self, session: requests.Session, url: str, token: str | None,
                  deadline: float, budget: int) -> tuple[dict, int]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failure(*_TIMEOUT)
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
        # a server that drips its status line or headers is not stopped by a read timeout
        # (each byte arrives in time): at the deadline the watchdog shuts the socket down
        watchdog = _Watchdog(remaining)
        try:
            with watchdog:
                response = session.get(url, headers=headers, timeout=timeout, stream=True,
                                       allow_redirects=False)
        except requests.ConnectTimeout:
            raise _Failure("unreachable", "the FHIR server could not be reached in time") from None
        except requests.ReadTimeout:
            raise _Failure(*_TIMEOUT) from None
        except requests.ConnectionError:
            if watchdog.fired:
                raise _Failure(*_TIMEOUT) from None
            raise _Failure("unreachable", "the FHIR server could not be reached") from None
        except requests.RequestException:
            raise _Failure("error", "the request to the FHIR server failed") from None
        try:
            _check_status(response.status_code)
            content = _read_bounded(response, budget, deadline)
        finally:
            response.close()
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise _Failure("invalid", "the FHIR server's answer is not valid JSON") from None
        if not isinstance(body, dict):
            raise _Failure("invalid", "the FHIR server's answer is not a FHIR resource")
        return body, len(content)

    # -- plumbing -------------------------------------------------------------------------

    def _resources(self) -> requests.Session:
        # Built in the process that uses it: gunicorn forks workers after create_app, and
        # neither threads nor pooled sockets survive a fork.
        with self._init_lock:
            if self._pid != os.getpid() or self._session is None:
                session = requests.Session()
                session.trust_env = False  # no proxies or .netrc credentials from the env
                adapter = _DeadlineAdapter(pool_connections=4, pool_maxsize=self.max_workers,
                                           max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._session = session
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


class _WithoutUrls(logging.Filter):
    """urllib3 names the URL in its own log lines (a header it could not parse, a retry): our
    URLs carry patient ids, so the details are withheld; the level and logger stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = "urllib3 %s: details withheld (they name a URL with patient ids)"
        record.args = (record.levelname.lower(),)
        record.exc_info = record.exc_text = None
        record.stack_info = None
        return True


for _name in ("urllib3.connection", "urllib3.connectionpool", "urllib3.response",
              "urllib3.poolmanager", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_WithoutUrls())


_reading = threading.local()  # the socket this thread is reading a response head from


class _DeadlineConnection(urllib3.connection.HTTPConnection):
    """Tells the watchdog of this thread which socket the response head is read from."""

    def getresponse(self, *args, **kwargs):
        watchdog = getattr(_reading, "watchdog", None)
        if watchdog is not None:
            watchdog.watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _DeadlineHttpsConnection(_DeadlineConnection, urllib3.connection.HTTPSConnection):
    pass


class _Watchdog:
    """Shuts the socket of the response being read down when the call's deadline passes, so a
    server dripping its status line and headers cannot hold the fetch thread past it."""

    def __init__(self, seconds: float):
        self.fired = False
        self._sock = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    def watch(self, sock) -> None:
        with self._lock:
            self._sock = sock
            if self.fired:
                self._shut()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shut()

    def _shut(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):  # already closed
                self._sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        _reading.watchdog = self
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        # the head is read (or the request failed): the body has its own bound (_read_bounded)
        self._timer.cancel()
        _reading.watchdog = None


class _DeadlineAdapter(HTTPAdapter):
    """Pools whose connections report the socket a response head is read from."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        for scheme, connection in (("http", _DeadlineConnection),
                                   ("https", _DeadlineHttpsConnection)):
            base = self.poolmanager.pool_classes_by_scheme[scheme]
            self.poolmanager.pool_classes_by_scheme = {
                **self.poolmanager.pool_classes_by_scheme,
                scheme: type(f"Deadline{base.__name__}", (base,), {"ConnectionCls": connection})}


def _check_status(status: int) -> None:
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise _Failure("redirect",
                       f"the FHIR server redirected (HTTP {status}); redirects are not followed")
    if status in (401, 403):
        raise _Failure("refused", f"the FHIR server refused the access token (HTTP {status})")
    if status in (404, 410):
        raise _Failure("not_found", f"not found on the FHIR server (HTTP {status})")
    raise _Failure("http_error", f"the FHIR server answered HTTP {status}")


def _read_bounded(response: requests.Response, budget: int, deadline: float) -> bytes:
    """The body, read so that the deadline bounds every byte: each read takes what the socket
    has (``read1``), under a socket timeout shrunk to the time left, so a server that drips its
    body a byte at a time is cut off at the deadline, not at the next 64 KiB."""
    too_large = "the FHIR server's answer is larger than the configured limit"
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > budget:
        raise _Failure("too_large", too_large)
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    chunks = []
    size = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Failure(*_TIMEOUT)
            if sock is not None:
                sock.settimeout(min(remaining, sock.gettimeout() or remaining))
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > budget:
                raise _Failure("too_large", too_large)
            chunks.append(chunk)
    except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
        raise _Failure(*_TIMEOUT) from None
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError):
        raise _Failure("error", "the FHIR server's answer was cut off or too slow") from None
    return b"".join(chunks)


def _next_link(bundle: dict) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None
