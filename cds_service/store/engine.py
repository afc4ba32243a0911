"""The database under the store: which one (``DATABASE_URL``, else a SQLite file), the
SQLAlchemy engine opened on it with each database's connection settings, and the Alembic
migrations applied to it.

On SQLite every writing transaction starts with ``BEGIN IMMEDIATE`` (the write lock first, so
that two writers queue on ``busy_timeout`` instead of failing on a stale snapshot); a reading
one asks for ``BEGIN DEFERRED`` through the ``sqlite_begin`` execution option.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from . import schema
from .errors import StoreError

DB_FILE = "cds-service.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock key held while migrating ("cdsfeedb" as a 64-bit integer)
_PG_MIGRATION_LOCK = int.from_bytes(b"cdsfeedb", "big") & 0x7FFF_FFFF_FFFF_FFFF


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


def checked_url(url: str | URL) -> URL:
    """The store's URL, checked: a PostgreSQL database (through psycopg) or a SQLite file."""
    url = make_url(url)
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError("DATABASE_URL must name a PostgreSQL (postgresql://) or SQLite "
                         "(sqlite:///path) database")
    if backend == "postgresql" and url.get_driver_name() != "psycopg":
        url = url.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and sqlite_file(url) is None:
        raise StoreError("an in-memory SQLite database would lose the feedback: name a file "
                         "(sqlite:////path/to/file.db) or set CDS_DATA_DIR")
    return url


def sqlite_file(url: URL) -> Path | None:
    """The SQLite database's file; None for another database or an in-memory one."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def mask_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def make_engine(url: URL) -> Engine:
    """An engine with the store's settings: SQLite's pragmas and transaction modes (see the
    module docstring), PostgreSQL's pool and timeouts."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                         pool_recycle=1800, connect_args={"connect_timeout": 10})


def create_private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (SQLite gives its -wal and -shm files
    the database file's permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def sqlite_on_connect(dbapi_connection, connection_record=None) -> None:
    """A new sqlite3 connection's settings (an engine's "connect" event, and the per-call
    writes' own connection)."""
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


def run_migrations(engine: Engine, revision: str = "head") -> str | None:
    """Apply the Alembic migrations up to ``revision`` under a lock (PostgreSQL: an advisory
    lock; SQLite: the database's write lock), so that processes starting together migrate once
    and the others wait, then find nothing to do. Returns the revision now current."""
    # Alembic is imported where migrations are run or read only, not by every worker
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
    """The newest migration's revision (what ``run_migrations`` brings a database to)."""
    # Alembic: see run_migrations
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()
