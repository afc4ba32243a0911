"""Fetch the prefetch data a client left out from its ``fhirServer``, with its access token.

CDS Hooks 2.0 §FHIR Resource Access: the service may query ``fhirServer`` with
``fhirAuthorization.access_token`` as a Bearer token. We only do so for a base URL an operator
put on the allow-list (so the service cannot be turned against internal hosts), only over
http(s), never following redirects, and never sending the token to any URL outside that base
(a search Bundle's ``next`` link included). Every outcome that is not data becomes a
:class:`FetchFailed` with a short reason that holds no token and no patient data.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ALL_COMPLETED, Future, ThreadPoolExecutor, wait
from urllib.parse import urljoin, urlsplit

import orjson
import requests
from cachetools import TTLCache
from requests.adapters import HTTPAdapter

from ..deadline import current_deadline
from ..metrics import record_fhir_fetch
from .prefetch import FetchFailed

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}
# A query we send: a read (Type/id) or a search (Type?params), the id a FHIR id.
_READ = re.compile(r"[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}")
_SEARCH_PATH = re.compile(r"[A-Z][A-Za-z]{1,63}")
_UNSAFE = re.compile(r"[\s#\\\x00-\x1f\x7f]")
_CHUNK = 64 * 1024


def normalize_base_url(url: str) -> str | None:
    """The canonical form of a FHIR base URL, or None when it is not a plain http(s) base.

    >>> normalize_base_url("HTTPS://EHR.example:443/fhir/R4/")
    'https://ehr.example/fhir/R4'
    >>> normalize_base_url("ftp://ehr.example/fhir") is None
    True
    """
    if not isinstance(url, str) or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return None
    path = parts.path.rstrip("/")
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{path}"


def _within_base(url: str, base: str) -> bool:
    """True when ``url`` (absolute) addresses a resource under the normalised ``base``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.fragment:
        return False
    without_query = normalize_base_url(parts._replace(query="").geturl())
    return without_query is not None and (
        without_query == base or without_query.startswith(base + "/")
    )


def _valid_query(query: str) -> bool:
    if not isinstance(query, str) or _UNSAFE.search(query) or "//" in query or ".." in query:
        return False
    path, _, _params = query.partition("?")
    return bool(_READ.fullmatch(path) if "/" in path else _SEARCH_PATH.fullmatch(path))


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
        max_pages: int = 10,
        max_response_bytes: int = 5 * 1024 * 1024,
        cache_ttl: float = 60.0,
        cache_size: int = 256,
        max_workers: int = 5,
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
        self.max_response_bytes = max_response_bytes
        self.max_workers = max_workers
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
        self._executor: ThreadPoolExecutor | None = None
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
        pending: dict[str, Future] = {}
        session, executor = self._resources()
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
            pending[key] = executor.submit(
                self._timed_fetch, session, base, query, access_token, deadline
            )
        if pending:
            # the threads bound their own time; this wait is the backstop
            wait(pending.values(), timeout=max(0.0, deadline - time.monotonic()) + 0.5,
                 return_when=ALL_COMPLETED)
        for key, future in pending.items():
            if not future.done():
                future.cancel()
                outcome, body, seconds = _TIMEOUT[0], _Failure(*_TIMEOUT), self.deadline
            else:
                outcome, body, seconds = future.result()
            record_fhir_fetch(outcome, seconds)
            if isinstance(body, _Failure):
                results[key] = FetchFailed(key, body.reason)
                # the key and the reason only: no URL (it holds the patient id), no token
                log.warning("FHIR fetch of %s failed: %s", key, body.reason)
                continue
            self._cache_put((base, queries[key], token_id), body)
            results[key] = orjson.loads(body)
        return results

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
        try:
            response = session.get(url, headers=headers, timeout=timeout, stream=True,
                                   allow_redirects=False)
        except requests.ConnectTimeout:
            raise _Failure("unreachable", "the FHIR server could not be reached in time") from None
        except requests.ReadTimeout:
            raise _Failure(*_TIMEOUT) from None
        except requests.ConnectionError:
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

    def _resources(self) -> tuple[requests.Session, ThreadPoolExecutor]:
        # Built in the process that uses them: gunicorn forks workers after create_app, and
        # neither threads nor pooled sockets survive a fork.
        with self._init_lock:
            if self._pid != os.getpid() or self._session is None or self._executor is None:
                session = requests.Session()
                session.trust_env = False  # no proxies or .netrc credentials from the env
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.max_workers,
                                      max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._session = session
                self._executor = ThreadPoolExecutor(self.max_workers,
                                                    thread_name_prefix="fhir-fetch")
                self._pid = os.getpid()
            return self._session, self._executor

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
            if self._executor is not None and self._pid == os.getpid():
                self._executor.shutdown(wait=False, cancel_futures=True)
            if self._session is not None and self._pid == os.getpid():
                self._session.close()
            self._session = self._executor = self._pid = None


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
    too_large = "the FHIR server's answer is larger than the configured limit"
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > budget:
        raise _Failure("too_large", too_large)
    chunks = []
    size = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > budget:
                raise _Failure("too_large", too_large)
            if time.monotonic() > deadline:
                raise _Failure(*_TIMEOUT)
            chunks.append(chunk)
    except requests.RequestException:
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
