"""The two writes of every hook call on SQLite (the cards returned; the client token's key, for
replay protection), on one connection each process keeps, with WAL checkpoints done beside the
requests instead of inside them.

Why not the SQLAlchemy pool, as every other query: these writes run once per hook call, and
through the pool each cost about 0.5 ms (checkout, reset, the Core statement machinery); on a
kept sqlite3 connection the same statements in the same ``BEGIN IMMEDIATE`` transaction cost
about 0.15 ms. And SQLite's automatic checkpoint runs inside the commit that crosses its
threshold: one hook call in about 150 waited for a checkpoint and its fsync (p99 of a card
write 6 to 8 ms, half the total time spent writing). Here the kept connection does not
checkpoint; a daemon thread of the same process does, every quarter second (a PASSIVE
checkpoint, which waits for nobody), and restarts the WAL from its beginning when it has grown
past ``WAL_RESTART_PAGES`` (a RESTART checkpoint, which waits a little for writers).

The guarantees are those of the rest of the store: each call's rows are committed before the
call is answered, or the call is answered 503 and nothing of it is stored. A connection is
opened in the process that uses it, never before a fork.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from .per_call import card_parameters, statements, suggestion_parameters

log = logging.getLogger("cds_service.store")

CHECKPOINT_SECONDS = 0.25
WAL_RESTART_PAGES = 4096  # 16 MiB of 4 KiB pages

_SQL = statements("?")

# a forked child must neither use nor close its parent's connections: they are kept referenced
_ABANDONED: list[sqlite3.Connection] = []


class SqliteHotPath:
    """The per-call writes on one kept connection (see the module docstring). ``configure`` is
    the store's connection set-up (busy timeout, WAL, foreign keys); ``unavailable`` builds the
    503 raised when the database fails."""

    def __init__(self, path: Path, configure: Callable[[sqlite3.Connection], None],
                 unavailable: Callable[[], Exception]):
        self.path = path
        self._configure = configure
        self._unavailable = unavailable
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._checkpointer: _Checkpointer | None = None

    def record_cards(self, card_rows: list[dict], suggestion_rows: list[dict]) -> None:
        cards = card_parameters(card_rows, sqlite_datetime)
        suggestions = suggestion_parameters(suggestion_rows)
        with self._transaction() as connection:
            connection.executemany(_SQL.cards, cards)
            if suggestions:
                connection.executemany(_SQL.suggestions, suggestions)

    def remember_token(self, token_key: str, expires_at: datetime, now: datetime,
                       sweep: bool = True) -> bool:
        instant = sqlite_datetime(now)
        with self._transaction() as connection:
            if sweep:
                connection.execute(_SQL.sweep_tokens, (instant,))
            inserted = connection.execute(
                _SQL.remember_token, (token_key, sqlite_datetime(expires_at), instant)).fetchall()
        return len(inserted) == 1

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                connection = self._connect()
                connection.execute("BEGIN IMMEDIATE")
                try:
                    yield connection
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                log.error("feedback store error", extra={"error_type": type(exc).__name__})
                self._close_connection()  # a fresh one next time
                raise self._unavailable() from None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self._open()
            if self._checkpointer is None or not self._checkpointer.is_alive():
                self._checkpointer = _Checkpointer(self)
                self._checkpointer.start()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        """A connection that never checkpoints inside a commit (the thread does)."""
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._configure(connection)
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            # a WAL started over is cut back to this size (it keeps its largest size otherwise)
            connection.execute(f"PRAGMA journal_size_limit = {WAL_RESTART_PAGES * 4096}")
        except sqlite3.Error:
            connection.close()
            raise
        return connection

    def _close_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        checkpointer = self._checkpointer
        if checkpointer is not None:
            checkpointer.stop()
        with self._lock:
            self._close_connection()
            self._checkpointer = None

    def abandon(self) -> None:
        """In a forked child: forget the parent's connection and thread without touching them
        (the thread does not exist in the child)."""
        if self._connection is not None:
            _ABANDONED.append(self._connection)
        self._connection = None
        self._checkpointer = None
        self._lock = threading.Lock()


class _Checkpointer(threading.Thread):
    def __init__(self, hot_path: SqliteHotPath):
        super().__init__(name="cds-sqlite-checkpoint", daemon=True)
        self.hot_path = hot_path
        self.pid = os.getpid()
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join(timeout=5)

    def run(self) -> None:
        connection: sqlite3.Connection | None = None
        while not self._stopping.wait(CHECKPOINT_SECONDS):
            if os.getpid() != self.pid:
                return
            try:
                if connection is None:
                    connection = self.hot_path._open()
                    connection.execute("PRAGMA busy_timeout = 1000")  # RESTART waits this long
                self.checkpoint(connection)
            except sqlite3.Error as exc:  # the next round tries again, on a new connection
                log.warning("WAL checkpoint failed", extra={"error_type": type(exc).__name__})
                if connection is not None:
                    with contextlib.suppress(sqlite3.Error):
                        connection.close()
                    connection = None
        if connection is not None:
            with contextlib.suppress(sqlite3.Error):
                connection.close()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        _busy, wal_pages, _done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if wal_pages > WAL_RESTART_PAGES:
            connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()


def sqlite_datetime(value: datetime) -> str:
    """An aware datetime as SQLAlchemy's SQLite DateTime stores it (naive UTC text), so that
    the rows read back alike whichever path wrote them."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
