"""The feedback store on SQLAlchemy 2: SQLite (a file, WAL mode) by default, PostgreSQL through
``DATABASE_URL``.

Processes: the store is built in ``create_app`` and ``prepare()``d (key loaded, migrations
applied) in the gunicorn master before the workers fork; each process then opens its own engine
on first use (an engine is never shared across a fork). Where nothing calls ``prepare()`` (the
Flask test client, another WSGI server) the first call does.

Transactions: each request is one transaction. On SQLite every writing transaction starts with
``BEGIN IMMEDIATE`` (the write lock first, so that two writers queue on ``busy_timeout`` instead
of failing on a stale snapshot); on PostgreSQL duplicate inserts wait for, then skip, a
concurrent insert of the same key (``ON CONFLICT DO NOTHING``). A failure anywhere in a request
rolls the whole transaction back: no half-written rows.

Errors: a database error during a request is logged by type only and answered 503; at start-up
``prepare()`` raises ``StoreError`` with a message fit for the operator (no password).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ..errors import CdsError, bad_request
from ..feedback import FeedbackItem, parse_instant
from . import schema
from .sqlite_hot import SqliteHotPath

if TYPE_CHECKING:
    from .postgres_hot import PostgresHotPath

log = logging.getLogger("cds_service.store")

DB_FILE = "cds-service.db"
KEY_FILE = "patient-hash.key"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key held while migrating ("cdsfeedb" as a 64-bit integer)
_PG_MIGRATION_LOCK = int.from_bytes(b"cdsfeedb", "big") & 0x7FFF_FFFF_FFFF_FFFF
_IN_CHUNK = 500  # ids per IN (...) list
_MIN_KEY_CHARS = 32
TOKEN_SWEEP_SECONDS = 60.0


class StoreError(Exception):
    """The feedback database cannot be opened, keyed or migrated. The message names the
    database (password masked) and what went wrong, never a patient's data."""


def default_data_dir() -> Path:
    """Where the SQLite database lives when neither CDS_DATA_DIR nor DATABASE_URL is set:
    ``$XDG_DATA_HOME/cds-service``, else ``~/.local/share/cds-service`` (the same folder
    whatever directory the command is started from)."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    if base:
        return Path(base) / "cds-service"
    try:
        home = Path.home()
    except RuntimeError:
        raise StoreError("no home directory to keep the feedback database in: set "
                         "CDS_DATA_DIR or DATABASE_URL") from None
    return home / ".local" / "share" / "cds-service"


def resolve_database_url(database_url: str | None, data_dir: str | None) -> URL:
    """The store's URL: DATABASE_URL, else the SQLite file in CDS_DATA_DIR (or the default)."""
    if database_url:
        try:
            return make_url(database_url)
        except ArgumentError:
            raise StoreError("DATABASE_URL is not a database URL") from None
    directory = Path(data_dir).expanduser() if data_dir else default_data_dir()
    return URL.create("sqlite+pysqlite", database=str(directory.resolve() / DB_FILE))


def mask_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def load_or_create_key(path: Path) -> bytes:
    """The patient hash key in ``path``; a new random one (mode 0600) when there is none. Safe
    when several processes start together: the key is written to a temporary file and linked
    into place, so every process reads the same, complete key."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text("ascii").strip()
    if len(key) < _MIN_KEY_CHARS:
        raise StoreError(f"the patient hash key file {path} holds fewer than {_MIN_KEY_CHARS} "
                         "characters")
    return key.encode("ascii")


def run_migrations(engine: Engine, revision: str = "head") -> str | None:
    """Apply the Alembic migrations up to ``revision`` under a lock (PostgreSQL: an advisory
    lock; SQLite: the database's write lock), so that processes starting together migrate once
    and the others wait, then find nothing to do. Returns the revision now current."""
    from alembic import command
    from alembic.config import Config
    from alembic.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _PG_MIGRATION_LOCK})
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        context = MigrationContext.configure(connection,
                                             opts={"version_table": schema.VERSION_TABLE})
        return context.get_current_revision()


def head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def _parse_instant(value: str) -> datetime:
    return parse_instant(value)  # the spec asks for an instant; a bare time is read as UTC


def dedup_key(item: FeedbackItem) -> str:
    """Identity of a feedback item: the same card, outcome, accepted suggestions, override
    reason and outcome instant make the same item (a re-sent one)."""
    identity = [item.card_uuid, item.outcome, sorted(item.accepted_suggestions),
                item.override_reason_system, item.override_reason_code,
                _parse_instant(item.outcome_timestamp).isoformat()]
    return hashlib.sha256(json.dumps(identity, separators=(",", ":")).encode()).hexdigest()


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start:start + _IN_CHUNK]


_STORES: weakref.WeakSet[SqlFeedbackStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._forget_engine()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class SqlFeedbackStore:
    """Cards shown and feedback received, in a SQL database (see the module docstring)."""

    def __init__(self, url: str | URL, patient_hash_key: str | None = None):
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StoreError("DATABASE_URL must name a PostgreSQL (postgresql://) or SQLite "
                             "(sqlite:///path) database")
        if self.dialect == "postgresql" and self.url.get_driver_name() != "psycopg":
            self.url = self.url.set(drivername="postgresql+psycopg")
        if self.dialect == "sqlite" and self.sqlite_path is None:
            raise StoreError("an in-memory SQLite database would lose the feedback: name a file "
                             "(sqlite:////path/to/file.db) or set CDS_DATA_DIR")
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
        if self.dialect != "sqlite":
            return None
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)

    def describe(self) -> str:
        """The database, fit for a message: the SQLite file, or the URL with its password
        masked."""
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
                    _create_private_file(path)
                key = self._load_key() if load_key else None
                revision = run_migrations(self._get_engine())
            except StoreError:
                raise
            except (OSError, SQLAlchemyError) as exc:
                raise StoreError(f"cannot open the feedback database ({self.describe()}): "
                                 f"{_reason(exc)}") from None
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

    def _get_engine(self) -> Engine:
        with self._lock:
            if self._engine is None or self._engine_pid != os.getpid():
                self._engine = self._make_engine()
                self._engine_pid = os.getpid()
            return self._engine

    def _make_engine(self) -> Engine:
        if self.dialect == "sqlite":
            engine = create_engine(self.url, connect_args={"timeout": 30,
                                                           "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        return create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                             pool_recycle=1800, connect_args={"connect_timeout": 10})

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
            raise _unavailable() from None
        with connection:
            if not write and self.dialect == "sqlite":
                connection = connection.execution_options(sqlite_begin="DEFERRED")
            try:
                with connection.begin():
                    yield connection
            except SQLAlchemyError as exc:
                log.error("feedback store error", extra={"error_type": type(exc).__name__})
                raise _unavailable() from None

    def ping(self) -> bool:
        with self.transaction(write=False) as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1

    def patient_hash(self, patient_id: str) -> str:
        """HMAC-SHA256 of the patient id under the configured key (hex)."""
        self._ensure_prepared()
        assert self._key is not None
        return hmac.new(self._key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def _insert_ignoring(self, table, conflict_columns: list[str]):
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)

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
        issued_at = datetime.now(UTC)
        patient_hash = self.patient_hash(patient_id) if patient_id else None
        card_rows, suggestion_rows = [], []
        for card in cards:
            card_rows.append({
                "card_uuid": card["uuid"], "service_id": service_id, "hook": hook,
                "hook_instance": hook_instance, "rule_id": card["source"]["topic"]["code"],
                "indicator": card["indicator"], "patient_hash": patient_hash,
                "issued_at": issued_at, "client_issuer": client_issuer,
                "client_tenant": client_tenant,
                "evidence": json.dumps(evidence[card["uuid"]], separators=(",", ":")) if (
                    evidence and evidence.get(card["uuid"])) else None,
            })
            suggestion_rows.extend(
                {"card_uuid": card["uuid"], "suggestion_uuid": s["uuid"]}
                for s in card.get("suggestions", []) if "uuid" in s)
        self._per_call_writes().record_cards(card_rows, suggestion_rows)

    def _per_call_writes(self) -> SqliteHotPath | PostgresHotPath:
        """The writes of every hook call go through a connection each process keeps (see
        sqlite_hot.py and postgres_hot.py for why and what they promise)."""
        with self._lock:
            if self._hot_path is None:
                if self.dialect == "sqlite":
                    assert self.sqlite_path is not None
                    self._hot_path = SqliteHotPath(
                        self.sqlite_path, lambda connection: _sqlite_on_connect(connection, None),
                        _unavailable)
                else:
                    from .postgres_hot import PostgresHotPath  # psycopg: only when used

                    self._hot_path = PostgresHotPath(self.url, _unavailable)
            return self._hot_path

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
        rows = [self._feedback_row(service_id, item, received_at) for item in items]
        card_ids = sorted({item.card_uuid for item in items})
        with self.transaction() as connection:
            owners: dict[str, tuple[str, str | None, str | None]] = {}
            suggestions: dict[str, set[str]] = defaultdict(set)
            caller = (service_id, client_issuer, client_tenant)
            cards = schema.cards.c
            for chunk in _chunks(card_ids):
                for card_uuid, *owner in connection.execute(
                        select(cards.card_uuid, cards.service_id, cards.client_issuer,
                               cards.client_tenant)
                        .where(cards.card_uuid.in_(chunk))).tuples():
                    owners[card_uuid] = tuple(owner)
                for card_uuid, suggestion in connection.execute(
                        select(schema.card_suggestions.c.card_uuid,
                               schema.card_suggestions.c.suggestion_uuid)
                        .where(schema.card_suggestions.c.card_uuid.in_(chunk))).tuples():
                    suggestions[card_uuid].add(suggestion)
            for index, item in enumerate(items):
                if owners.get(item.card_uuid) != caller:
                    raise bad_request(f"feedback[{index}].card is not a card this service issued.",
                                      f"feedback[{index}].card")
                if set(item.accepted_suggestions) - suggestions[item.card_uuid]:
                    raise bad_request(
                        f"feedback[{index}].acceptedSuggestions names a suggestion that was not "
                        "on the card.", f"feedback[{index}].acceptedSuggestions")
            # RETURNING yields a row only for an inserted item (rowcount is not reliable here)
            insert = self._insert_ignoring(schema.feedback, ["dedup_key"]).returning(
                schema.feedback.c.id)
            new = 0
            for row in rows:
                new += self._insert_feedback_row(connection, insert, row)
            return new

    def _insert_feedback_row(self, connection: Connection, insert, row: dict[str, Any]) -> int:
        return len(connection.execute(insert, row).all())

    @staticmethod
    def _feedback_row(service_id: str, item: FeedbackItem, received_at: datetime) -> dict:
        return {
            "dedup_key": dedup_key(item), "card_uuid": item.card_uuid, "service_id": service_id,
            "outcome": item.outcome, "accepted_suggestions": list(item.accepted_suggestions),
            "override_reason_system": item.override_reason_system,
            "override_reason_code": item.override_reason_code,
            "override_comment": item.override_comment,
            "outcome_at": _parse_instant(item.outcome_timestamp), "received_at": received_at,
        }

    def _ensure_prepared_or_503(self) -> None:
        try:
            self._ensure_prepared()
        except StoreError:
            log.error("feedback store unavailable", extra={"error_type": "StoreError"})
            raise _unavailable() from None

    def card_evidence(self, card_uuid: str) -> list[dict] | None:
        """What a stored card rests on (references and offsets); None for an unknown card."""
        table = schema.cards
        with self.transaction(write=False) as connection:
            row = connection.execute(select(table.c.evidence).where(
                table.c.card_uuid == card_uuid)).first()
        if row is None:
            return None
        return json.loads(row[0]) if row[0] else []

    def feedback_for(self, card_uuid: str) -> list[FeedbackItem]:
        """The feedback stored for one card, oldest first (as parsed, instants in UTC)."""
        table = schema.feedback
        with self.transaction(write=False) as connection:
            rows = connection.execute(select(table).where(table.c.card_uuid == card_uuid)
                                      .order_by(table.c.outcome_at, table.c.id)).mappings().all()
        return [FeedbackItem(r["card_uuid"], r["outcome"], tuple(r["accepted_suggestions"]),
                             r["override_reason_code"], r["override_reason_system"],
                             r["override_comment"], r["outcome_at"].isoformat())
                for r in rows]

    def rule_report(self, since: datetime | None = None, top_reasons: int = 3) -> list:
        """Per rule: cards shown, accepted, overridden, top override reasons (see analytics)."""
        from .analytics import query_rule_stats

        with self.transaction(write=False) as connection:
            return query_rule_stats(connection, since, top_reasons)


def _unavailable() -> CdsError:
    return CdsError(503, "The feedback store is not available; try again later.")


def _reason(exc: BaseException) -> str:
    """A one-line reason for an operator: the driver's first line, never the SQL parameters."""
    origin = getattr(exc, "orig", None) or exc
    first = (str(origin).strip().splitlines() or [""])[0]
    return f"{type(origin).__name__}: {first[:300]}" if first else type(origin).__name__


def _create_private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (SQLite gives its -wal and -shm files
    the database file's permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_on_connect(dbapi_connection, connection_record) -> None:
    # SQLAlchemy's documented recipe: the driver issues no BEGIN of its own; _sqlite_on_begin
    # does, so that the transaction mode is chosen here.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {'DEFERRED' if mode == 'DEFERRED' else 'IMMEDIATE'}")
