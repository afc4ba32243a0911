"""The feedback store on SQLAlchemy 2: SQLite (a file, WAL mode) by default, PostgreSQL through
``DATABASE_URL``; its life in a process and its interface to the rest of the service.

Processes: the store is built in ``create_app`` and ``prepare()``d (key loaded, migrations
applied) in the gunicorn master before the workers fork; each process then opens its own engine
on first use (an engine is never shared across a fork). Where nothing calls ``prepare()`` (the
Flask test client, another WSGI server) the first call does.

Transactions: each request is one transaction (SQLite's locking: see ``engine.py``); duplicate
inserts wait for, then skip, a concurrent insert of the same key (``ON CONFLICT DO NOTHING``).
A failure anywhere in a request rolls the whole transaction back: no half-written rows.

Errors: a database error during a request is logged by type only and answered 503; at start-up
``prepare()`` raises ``StoreError`` with a message fit for the operator (no password).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..feedback import FeedbackItem
from . import records
from .analytics import query_rule_stats
from .engine import (
    checked_url,
    create_private_file,
    make_engine,
    mask_url,
    resolve_database_url,
    run_migrations,
    sqlite_file,
    sqlite_on_connect,
)
from .errors import StoreError, reason, unavailable
from .keys import KEY_FILE, load_or_create_key, patient_hash
from .sqlite_hot import SqliteHotPath

if TYPE_CHECKING:
    from .postgres_hot import PostgresHotPath

log = logging.getLogger("cds_service.store")

TOKEN_SWEEP_SECONDS = 60.0

# every store of this process: a forked child drops their engines and kept connections
_STORES: weakref.WeakSet[SqlFeedbackStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._forget_engine()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def create_feedback_store(settings: Any) -> SqlFeedbackStore:
    """The store the settings name (DATABASE_URL, else SQLite in CDS_DATA_DIR). No I/O."""
    url = resolve_database_url(settings.database_url, settings.data_dir)
    return SqlFeedbackStore(url, settings.patient_hash_key)


class SqlFeedbackStore:
    """Cards shown and feedback received, in a SQL database (see the module docstring)."""

    def __init__(self, url: str | URL, patient_hash_key: str | None = None):
        self.url = checked_url(url)
        self.dialect = self.url.get_backend_name()
        self._configured_key = patient_hash_key.encode("utf-8") if patient_hash_key else None
        self._key: bytes | None = None
        self._engine: Engine | None = None
        self._engine_pid: int | None = None
        self._lock = threading.RLock()
        self._prepared = False
        self._hot_path: SqliteHotPath | PostgresHotPath | None = None
        self._last_sweep: float | None = None
        _STORES.add(self)

    # -- set-up -----------------------------------------------------------------------------
    @property
    def sqlite_path(self) -> Path | None:
        return sqlite_file(self.url)

    def describe(self) -> str:
        """The database, fit for a message: the SQLite file, or the URL (password masked)."""
        path = self.sqlite_path
        return f"SQLite file {path}" if path else mask_url(self.url)

    def prepare(self, load_key: bool = True) -> str | None:
        """Open the database, load (or create, for SQLite) the patient hash key and apply the
        migrations. Idempotent; called at start-up before workers fork. Returns the schema
        revision. Raises StoreError. ``load_key=False``: migrations only (for the commands that
        hash no patient id); the store is then prepared again on first use."""
        with self._lock:
            try:
                path = self.sqlite_path
                if path is not None:
                    create_private_file(path)
                key = self._load_key() if load_key else None
                revision = run_migrations(self._get_engine())
            except StoreError:
                raise
            except (OSError, SQLAlchemyError) as exc:
                raise StoreError(f"cannot open the feedback database ({self.describe()}): "
                                 f"{reason(exc)}") from None
            finally:
                self._dispose()  # no connection may cross a fork
            self._key = key
            self._prepared = load_key
            return revision

    def _load_key(self) -> bytes:
        if self._configured_key is not None:
            return self._configured_key
        path = self.sqlite_path
        if path is None:
            raise StoreError("CDS_PATIENT_HASH_KEY must be set when DATABASE_URL names a "
                             "PostgreSQL database: every replica must hash patient ids with the "
                             "same key")
        return load_or_create_key(path.parent / KEY_FILE)

    def _ensure_prepared(self) -> None:
        if not self._prepared:
            self.prepare()

    def _ensure_prepared_or_503(self) -> None:
        try:
            self._ensure_prepared()
        except StoreError:
            log.error("feedback store unavailable", extra={"error_type": "StoreError"})
            raise unavailable() from None

    def _get_engine(self) -> Engine:
        with self._lock:
            if self._engine is None or self._engine_pid != os.getpid():
                self._engine = make_engine(self.url)
                self._engine_pid = os.getpid()
            return self._engine

    def _forget_engine(self) -> None:
        """In a forked child: drop the parent's engine without closing its connections (they
        belong to the parent), and any lock state copied mid-use."""
        self._lock = threading.RLock()
        if self._engine is not None:
            self._engine.dispose(close=False)
        self._engine = None
        self._engine_pid = None
        if self._hot_path is not None:
            self._hot_path.abandon()

    def _dispose(self) -> None:
        if self._engine is not None and self._engine_pid == os.getpid():
            self._engine.dispose()
        self._engine = None
        self._engine_pid = None

    def close(self) -> None:
        with self._lock:
            self._dispose()
            if self._hot_path is not None:
                self._hot_path.close()
                self._hot_path = None

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Connection]:
        """One transaction; a database failure becomes a 503 for the client (logged by type)."""
        try:
            self._ensure_prepared()
            connection = self._get_engine().connect()
        except (StoreError, SQLAlchemyError) as exc:
            log.error("feedback store unavailable", extra={"error_type": type(exc).__name__})
            raise unavailable() from None
        with connection:
            if not write and self.dialect == "sqlite":
                connection = connection.execution_options(sqlite_begin="DEFERRED")
            try:
                with connection.begin():
                    yield connection
            except SQLAlchemyError as exc:
                log.error("feedback store error", extra={"error_type": type(exc).__name__})
                raise unavailable() from None

    def ping(self) -> bool:
        with self.transaction(write=False) as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1

    def patient_hash(self, patient_id: str) -> str:
        """HMAC-SHA256 of the patient id under the configured key (hex)."""
        self._ensure_prepared()
        assert self._key is not None
        return patient_hash(self._key, patient_id)

    def _per_call_writes(self) -> SqliteHotPath | PostgresHotPath:
        """The writes of every hook call go through a connection each process keeps (see
        sqlite_hot.py and postgres_hot.py for why and what they promise)."""
        with self._lock:
            if self._hot_path is None:
                if self.dialect == "sqlite":
                    assert self.sqlite_path is not None
                    self._hot_path = SqliteHotPath(self.sqlite_path, sqlite_on_connect,
                                                   unavailable)
                else:
                    # psycopg is imported by a process that writes to PostgreSQL only
                    from .postgres_hot import PostgresHotPath

                    self._hot_path = PostgresHotPath(self.url, unavailable)
            return self._hot_path

    # -- the store's interface ------------------------------------------------------------
    def record_cards(self, service_id: str, cards: list[dict], *, hook: str,
                     hook_instance: str, patient_id: str | None,
                     client_issuer: str | None = None, client_tenant: str | None = None,
                     evidence: dict[str, list[dict]] | None = None) -> None:
        """Remember every card returned by one hook call, in one transaction, with the client
        (verified issuer and tenant; None without client authentication) it was issued to.
        ``evidence``: by card uuid, what each rests on as references and offsets
        (``Evidence.as_reference``), never the words of a text."""
        if not cards:
            return
        self._ensure_prepared_or_503()
        card_rows, suggestion_rows = records.card_rows(
            service_id, cards, hook=hook, hook_instance=hook_instance,
            patient_hash=self.patient_hash(patient_id) if patient_id else None,
            issued_at=datetime.now(UTC), client_issuer=client_issuer,
            client_tenant=client_tenant, evidence=evidence)
        self._per_call_writes().record_cards(card_rows, suggestion_rows)

    def remember_token(self, token_key: str, expires_at: datetime) -> bool:
        """Record a client token's key until it expires; False if it was recorded already (a
        replay, whichever worker or replica saw it first). Expired keys are swept here, at most
        once every TOKEN_SWEEP_SECONDS per process (a statement less on most calls); an expired
        key not swept yet counts as absent."""
        self._ensure_prepared_or_503()
        clock = time.monotonic()
        sweep = self._last_sweep is None or clock - self._last_sweep >= TOKEN_SWEEP_SECONDS
        remembered = self._per_call_writes().remember_token(token_key, expires_at,
                                                            datetime.now(UTC), sweep)
        if sweep:
            self._last_sweep = clock
        return remembered

    def record_feedback(self, service_id: str, items: list[FeedbackItem], *,
                        client_issuer: str | None = None,
                        client_tenant: str | None = None) -> int:
        """Store every item or none (400 naming the first bad one); return how many were new.
        A card issued to another client (issuer and tenant) than the caller is refused as a
        card this service never issued: whether it exists is not told."""
        received_at = datetime.now(UTC)
        rows = [records.feedback_row(service_id, item, received_at) for item in items]
        with self.transaction() as connection:
            records.check_feedback_cards(connection, items,
                                         (service_id, client_issuer, client_tenant))
            insert = records.insert_feedback(self.dialect)
            new = 0
            for row in rows:
                new += self._insert_feedback_row(connection, insert, row)
            return new

    def _insert_feedback_row(self, connection: Connection, insert, row: dict[str, Any]) -> int:
        return len(connection.execute(insert, row).all())

    def card_evidence(self, card_uuid: str) -> list[dict] | None:
        """What a stored card rests on (references and offsets); None for an unknown card."""
        with self.transaction(write=False) as connection:
            return records.read_card_evidence(connection, card_uuid)

    def feedback_for(self, card_uuid: str) -> list[FeedbackItem]:
        """The feedback stored for one card, oldest first (as parsed, instants in UTC)."""
        with self.transaction(write=False) as connection:
            return records.read_feedback(connection, card_uuid)

    def rule_report(self, since: datetime | None = None, top_reasons: int = 3) -> list:
        """Per rule: cards shown, accepted, overridden, top override reasons (see analytics)."""
        with self.transaction(write=False) as connection:
            return query_rule_stats(connection, since, top_reasons)


def prepare_app(app: Any) -> None:
    """Open and migrate the app's feedback store, if it has one that needs it. Raises
    StoreError."""
    state = getattr(app, "extensions", {}).get("cds")
    prepare = getattr(getattr(state, "feedback_store", None), "prepare", None)
    if prepare is not None:
        prepare()
