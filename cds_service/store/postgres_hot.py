"""The two writes of every hook call on PostgreSQL (the cards returned; the client token's key),
on one psycopg connection each process keeps.

Why not the SQLAlchemy pool, as every other query: these writes run once per hook call, and
through the pool (a ``pool_pre_ping`` round trip at each checkout, the reset on return, the Core
statement machinery) the cards of a call cost about 1.1 ms to store on the test machine; the
same statements in one transaction on a kept connection cost about 0.4 ms.

The guarantees are those of the rest of the store: each call's rows are committed before the
call is answered, or the call is answered 503 and nothing of it is stored. A connection that
the server closed since its last use (a restart, an idle timeout) is found out by the first
statement of the next call, which is then run once more on a new connection; an error during
the commit itself is never retried (the commit may have happened). A connection is opened in
the process that uses it, never before a fork.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NoReturn

import psycopg
from sqlalchemy.engine import URL

from ..errors import ServiceError
from .per_call import card_parameters, statements, suggestion_parameters

log = logging.getLogger("cds_service.store")

_SQL = statements("%s")

# a forked child must neither use nor close its parent's connection: it is kept referenced
_ABANDONED: list[psycopg.Connection] = []


class _Committing(ServiceError):
    """Wraps an error raised by COMMIT: the transaction's outcome is unknown, never retry."""

    def __init__(self, error: psycopg.Error):
        super().__init__(str(error))
        self.error = error


class PostgresHotPath:
    """The per-call writes on one kept connection (see the module docstring). ``url`` is the
    store's SQLAlchemy URL; ``unavailable`` builds the 503 raised when the database fails."""

    def __init__(self, url: URL, unavailable: Callable[[], Exception]):
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._unavailable = unavailable
        self._lock = threading.Lock()
        self._connection: psycopg.Connection | None = None

    def record_cards(self, card_rows: list[dict], suggestion_rows: list[dict]) -> None:
        cards = card_parameters(card_rows, _naive_utc)
        suggestions = suggestion_parameters(suggestion_rows)

        def write(cursor: psycopg.Cursor) -> None:
            cursor.executemany(_SQL.cards, cards)
            if suggestions:
                cursor.executemany(_SQL.suggestions, suggestions)

        self._run(write)

    def remember_token(self, token_key: str, expires_at: datetime, now: datetime,
                       sweep: bool = True) -> bool:
        def remember(cursor: psycopg.Cursor) -> bool:
            if sweep:
                cursor.execute(_SQL.sweep_tokens, (_naive_utc(now),))
            cursor.execute(_SQL.remember_token,
                           (token_key, _naive_utc(expires_at), _naive_utc(now)))
            return len(cursor.fetchall()) == 1

        return self._run(remember)

    def _run(self, work):
        with self._lock:
            retry = self._connection is not None  # a kept one may have died since its last use
            while True:
                try:
                    return self._transaction(work)
                except psycopg.OperationalError as exc:
                    self._close_connection()
                    if not retry:
                        self._fail(exc)
                    retry = False  # once more, on a new connection
                except _Committing as exc:
                    self._close_connection()
                    self._fail(exc.error)
                except psycopg.Error as exc:
                    self._fail(exc)

    def _transaction(self, work):
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                result = work(cursor)
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                connection.rollback()
            raise
        try:
            connection.commit()
        except psycopg.Error as exc:
            raise _Committing(exc) from None
        return result

    def _fail(self, exc: psycopg.Error) -> NoReturn:
        log.error("feedback store error", extra={"error_type": type(exc).__name__})
        raise self._unavailable() from None

    def _connect(self) -> psycopg.Connection:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self._conninfo, connect_timeout=10)
        return self._connection

    def _close_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self._close_connection()

    def abandon(self) -> None:
        """In a forked child: forget the parent's connection without touching it."""
        if self._connection is not None:
            _ABANDONED.append(self._connection)
        self._connection = None
        self._lock = threading.Lock()


def _naive_utc(value: datetime) -> datetime:
    """The columns are ``timestamp without time zone`` holding UTC (schema.UTCDateTime)."""
    return value.astimezone(UTC).replace(tzinfo=None)
