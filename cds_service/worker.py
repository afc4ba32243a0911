"""The gunicorn worker of ``cds-service serve``: it reads each request whole, headers and body,
in its event loop, and only then gives it to a thread that runs the application.

Why: gunicorn's sync worker reads a request in the process that serves it, and its gthread
worker in one of its threads, so a client that sends its headers or body a few bytes at a time
holds that process or thread until the worker timeout; a handful of such clients (16 dripping
connections on a 2-CPU machine) starve every other caller, ``/healthz`` included. Here a
connection costs no thread until its request is complete: the loop that accepts connections
also reads them (non-blocking, up to ``limit_request_*`` for the headers and CDS_MAX_BODY_BYTES
for the body), and a client that has not sent one whole request within CDS_CLIENT_READ_TIMEOUT
seconds is answered 408 and closed. The threads (CDS_THREADS, one by default) then parse the
complete request from memory with gunicorn's own parser, exactly as before.

What it keeps of gunicorn's gthread worker: keep-alive connections wait in the loop, not in a
thread; a request whose body is larger than the limit is handed over after its headers, for
the application to answer 413 without reading it. What it adds: the worker timeout still ends a
request that runs past it (the loop stops telling the arbiter it is alive, as the sync worker's
blocked process would), so a stuck request cannot hold a thread for ever.
"""

from __future__ import annotations

import contextlib
import errno
import re
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

_RECV_BYTES = 256 * 1024
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                     b"Content-Length: 0\r\n\r\n")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LINGER_SECONDS = 2.0  # gunicorn's own graceful close: at most 2 s and 64 KiB
LINGER_BYTES = 64 * 1024
_EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*(?=\r\n)", re.IGNORECASE)
_HEADER = re.compile(rb"\r\n([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*(?=\r\n)")


@dataclass(frozen=True)
class ReadLimits:
    """How long a client may take to send one request, and how much is read for it."""

    read_timeout: float = 15.0
    max_body_bytes: int = 5 * 1024 * 1024


@dataclass
class _Reading:
    """One connection whose request is still arriving."""

    conn: TConn
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    head_end: int | None = None  # where the body starts, once the headers are in
    complete_at: int | None = None  # the request's length, once known (a fixed-length body)
    chunk_at: int | None = None  # a chunked body: where the next chunk's size line starts


class BufferingWorker(ThreadWorker):
    """gunicorn's gthread worker, with whole requests read in its loop (see module docstring).
    ``self.app.read_limits`` (set by ``server.run``) holds its ``ReadLimits``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits: ReadLimits = getattr(self.app, "read_limits", None) or ReadLimits()
        cfg = self.cfg
        if cfg.limit_request_line and cfg.limit_request_fields and cfg.limit_request_field_size:
            self.max_head_bytes = (cfg.limit_request_line + 2 + cfg.limit_request_fields
                                   * (cfg.limit_request_field_size + 2) + 2)
        else:
            self.max_head_bytes = 1024 * 1024
        self.reading: dict[int, _Reading] = {}
        self.lingering: dict[int, _Reading] = {}  # closing: the client's last bytes dropped
        self.running_since: dict[int, float] = {}  # id(conn) -> when its thread took it

    # -- connections whose request is arriving ----------------------------------------------
    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        self._start_reading(conn, b"")

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection has its next request coming."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn, b"")

    def _start_reading(self, conn: TConn, initial: bytes) -> None:
        conn.sock.setblocking(False)
        reading = _Reading(conn, time.monotonic() + self.limits.read_timeout, bytearray(initial))
        if initial and self._complete(reading):
            self._hand_over(reading)
            return
        self.reading[id(conn)] = reading
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, reading))

    def _on_readable(self, reading: _Reading, _sock) -> None:
        try:
            data = reading.conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before its request was whole
            self._stop_reading(reading)
            self._close(reading.conn)
            return
        reading.data += data
        if self._complete(reading):
            self._stop_reading(reading)
            self._hand_over(reading)

    def _stop_reading(self, reading: _Reading) -> None:
        self.reading.pop(id(reading.conn), None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(reading.conn.sock)

    def _complete(self, reading: _Reading) -> bool:
        """Whether ``reading`` holds one whole request, or enough for gunicorn's parser to
        answer it (headers too large or malformed, a body over the limit)."""
        data = reading.data
        if reading.head_end is None:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                return len(data) > self.max_head_bytes  # gunicorn answers 431 / 414
            reading.head_end = end + 4
            self._read_head(reading)
        if reading.complete_at is not None:
            return len(data) >= reading.complete_at
        if reading.chunk_at is not None:
            return self._chunked_complete(reading)
        return True  # a head gunicorn's parser will refuse, or a body over the limit

    def _read_head(self, reading: _Reading) -> None:
        head = bytes(reading.data[:reading.head_end])
        fields: dict[bytes, list[bytes]] = {}
        for name, value in _HEADER.findall(head):
            fields.setdefault(name.lower(), []).append(value)
        lengths = fields.get(b"content-length", [])
        chunked = b"chunked" in b",".join(fields.get(b"transfer-encoding", [])).lower()
        if chunked and not lengths:
            reading.chunk_at = reading.head_end
        elif len(lengths) == 1 and lengths[0].isdigit():
            length = int(lengths[0])
            if length <= self.limits.max_body_bytes:
                reading.complete_at = reading.head_end + length
        elif not lengths and not fields.get(b"transfer-encoding"):
            reading.complete_at = reading.head_end  # no body
        # anything else (both, several lengths, a bad length) is gunicorn's parser's to refuse
        body_coming = reading.complete_at is not None or reading.chunk_at is not None
        if (reading.complete_at != reading.head_end and body_coming
                and _EXPECT_CONTINUE.search(head)):
            # the client waits for this before sending the body; gunicorn would send it only
            # once a thread has the request, so it is sent here and its cause taken out
            self._send_quietly(reading.conn, _CONTINUE)
            stripped = _EXPECT_CONTINUE.sub(b"", head)
            shift = len(head) - len(stripped)
            reading.data[:reading.head_end] = stripped
            reading.head_end -= shift
            if reading.complete_at is not None:
                reading.complete_at -= shift
            if reading.chunk_at is not None:
                reading.chunk_at -= shift

    def _chunked_complete(self, reading: _Reading) -> bool:
        data = reading.data
        limit = reading.head_end + self.limits.max_body_bytes + 64 * 1024
        while True:
            position = reading.chunk_at
            if position > limit:
                return True  # over the limit: the application answers 413
            line_end = data.find(b"\r\n", position)
            if line_end < 0:
                return len(data) - position > 1024  # a size line this long is malformed
            size_text = bytes(data[position:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return True  # gunicorn's parser refuses it
            if size == 0:  # the last chunk, then trailers up to an empty line
                if data[line_end + 2:line_end + 4] == b"\r\n":
                    return True
                return data.find(b"\r\n\r\n", line_end) >= 0
            next_chunk = line_end + 2 + size + 2
            if len(data) < next_chunk:
                return False
            reading.chunk_at = next_chunk

    def _hand_over(self, reading: _Reading) -> None:
        conn = reading.conn
        conn.data_ready = True  # gthread's handle() must not wait for more
        conn.cds_buffered = bytes(reading.data)
        self.enqueue_req(conn)

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for lingering in [r for r in self.lingering.values() if r.deadline <= now]:
            self._stop_lingering(lingering)
        for reading in [r for r in self.reading.values() if r.deadline <= now]:
            self._stop_reading(reading)
            if reading.data:
                self._send_quietly(reading.conn, _TIMEOUT_RESPONSE)
            self.log.debug("Closing a connection whose request did not arrive in time.")
            self._close(reading.conn)

    def _close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    @staticmethod
    def _send_quietly(conn: TConn, data: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sock.send(data, socket.MSG_DONTWAIT)

    # -- the thread's side ------------------------------------------------------------------
    def handle(self, conn):
        buffered = getattr(conn, "cds_buffered", None)
        if buffered is not None:
            conn.cds_buffered = None
            conn.sock.setblocking(True)
            conn.init()
            if not conn.is_http2:
                conn.parser.unreader.unread(buffered)
        self.running_since[id(conn)] = time.monotonic()
        try:
            return super().handle(conn)
        finally:
            self.running_since.pop(id(conn), None)

    def finish_request(self, conn, fs):
        """As gthread's, except that read-ahead of the next request goes back to the loop, and
        that a connection to close lingers in the loop (gthread's graceful close waits up to
        2 s for the client inside the loop: a client trickling bytes would stall it)."""
        try:
            result = fs.result() if not fs.cancelled() else False
            if result and self.alive and conn.parser is not None and not conn.is_http2:
                leftover = conn.parser.unreader.take_buffered()
                if leftover:
                    self._start_reading(conn, leftover)
                    return
        except Exception:
            self._close(conn)
            return
        if not result:
            self._linger(conn)
            return
        super().finish_request(conn, fs)

    def _linger(self, conn: TConn) -> None:
        """Close after the response (RFC 9112 section 9.6): send FIN, then read and drop what
        the client still sends until it closes, LINGER_BYTES or LINGER_SECONDS, so that
        unread bytes do not make the kernel reset the connection before the response is read.
        """
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        lingering = _Reading(conn, time.monotonic() + LINGER_SECONDS)
        self.lingering[id(conn)] = lingering
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self._on_linger_readable, lingering))

    def _on_linger_readable(self, lingering: _Reading, _sock) -> None:
        try:
            data = lingering.conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        lingering.complete_at = (lingering.complete_at or 0) + len(data)  # bytes dropped
        if not data or lingering.complete_at >= LINGER_BYTES:
            self._stop_lingering(lingering)

    def _stop_lingering(self, lingering: _Reading) -> None:
        self.lingering.pop(id(lingering.conn), None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(lingering.conn.sock)
        self._close(lingering.conn)

    def notify(self):
        """Tell the arbiter this worker is alive, unless a request has run past the worker
        timeout: then the arbiter restarts the worker, as it would a blocked sync worker."""
        timeout = self.cfg.timeout
        if timeout and self.running_since:
            oldest = min(self.running_since.values(), default=None)
            if oldest is not None and time.monotonic() - oldest > timeout:
                return
        super().notify()
