"""One GET to a FHIR server, bounded by the call's deadline in every byte: the socket watchdog
for a response head that drips, the bounded read of its body, and the HTTP status read as an
outcome. Every way it gives no data is a :class:`RequestFailed` with an outcome word for the
metrics and a reason for people (no URL, no token: the URL names the patient)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

import orjson
import requests
import urllib3
import urllib3.connection
from requests.adapters import HTTPAdapter

from ..errors import ServiceError

_CHUNK = 64 * 1024


class RequestFailed(ServiceError):
    """Why one request gave no data: a reason for people, an outcome word for the metrics."""

    def __init__(self, outcome: str, reason: str):
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


TIMEOUT = ("timeout", "the FHIR server did not answer in time")


def get_json(session: requests.Session, url: str, token: str | None, deadline: float,
             budget: int, connect_timeout: float, read_timeout: float) -> tuple[dict, int]:
    """GET ``url`` as FHIR JSON by ``deadline`` (a ``time.monotonic()`` reading), its body at most
    ``budget`` bytes: the JSON object and its size."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise RequestFailed(*TIMEOUT)
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    timeout = (min(connect_timeout, remaining), min(read_timeout, remaining))
    # a server that drips its status line or headers is not stopped by a read timeout
    # (each byte arrives in time): at the deadline the watchdog shuts the socket down
    watchdog = _Watchdog(remaining)
    try:
        with watchdog:
            response = session.get(url, headers=headers, timeout=timeout, stream=True,
                                   allow_redirects=False)
    except requests.ConnectTimeout:
        raise RequestFailed("unreachable",
                            "the FHIR server could not be reached in time") from None
    except requests.ReadTimeout:
        raise RequestFailed(*TIMEOUT) from None
    except requests.ConnectionError:
        if watchdog.fired:
            raise RequestFailed(*TIMEOUT) from None
        raise RequestFailed("unreachable", "the FHIR server could not be reached") from None
    except requests.RequestException:
        raise RequestFailed("error", "the request to the FHIR server failed") from None
    try:
        _check_status(response.status_code)
        content = _read_bounded(response, budget, deadline)
    finally:
        response.close()
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise RequestFailed("invalid", "the FHIR server's answer is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestFailed("invalid", "the FHIR server's answer is not a FHIR resource")
    return body, len(content)


def new_session(max_connections: int) -> requests.Session:
    """A session whose connections report their socket to the watchdog; no proxies or .netrc
    credentials from the environment, no retries."""
    session = requests.Session()
    session.trust_env = False
    adapter = _DeadlineAdapter(pool_connections=4, pool_maxsize=max_connections, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


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
        raise RequestFailed(
            "redirect", f"the FHIR server redirected (HTTP {status}); redirects are not followed")
    if status in (401, 403):
        raise RequestFailed("refused",
                            f"the FHIR server refused the access token (HTTP {status})")
    if status in (404, 410):
        raise RequestFailed("not_found", f"not found on the FHIR server (HTTP {status})")
    raise RequestFailed("http_error", f"the FHIR server answered HTTP {status}")


def _read_bounded(response: requests.Response, budget: int, deadline: float) -> bytes:
    """The body, read so that the deadline bounds every byte: each read takes what the socket
    has (``read1``), under a socket timeout shrunk to the time left, so a server that drips its
    body a byte at a time is cut off at the deadline, not at the next 64 KiB."""
    too_large = "the FHIR server's answer is larger than the configured limit"
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > budget:
        raise RequestFailed("too_large", too_large)
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    chunks = []
    size = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestFailed(*TIMEOUT)
            if sock is not None:
                sock.settimeout(min(remaining, sock.gettimeout() or remaining))
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > budget:
                raise RequestFailed("too_large", too_large)
            chunks.append(chunk)
    except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
        raise RequestFailed(*TIMEOUT) from None
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError):
        raise RequestFailed("error", "the FHIR server's answer was cut off or too slow") from None
    return b"".join(chunks)
