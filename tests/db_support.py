"""Databases for the feedback store tests: a SQLite file in a temporary folder, or a fresh
schema in the real PostgreSQL server on 127.0.0.1:5432 (database ``test``, trust
authentication), dropped afterwards; PostgreSQL tests skip, saying why, when none answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

PG_HOST, PG_PORT, PG_DATABASE = "127.0.0.1", 5432, "test"
PATIENT_HASH_KEY = "feedback-store-tests-" + "k" * 32


@cache
def pg_user() -> str | None:
    """The first role that can connect (postgres, else root), or None when none can, or when
    CDS_TEST_NO_POSTGRES=1 asks to run without PostgreSQL (scripts/test)."""
    import psycopg

    if os.environ.get("CDS_TEST_NO_POSTGRES") == "1":
        return None

    for user in ("postgres", "root"):
        try:
            with psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DATABASE, user=user,
                                 connect_timeout=3):
                return user
        except psycopg.Error:
            continue
    return None


def require_postgres() -> str:
    user = pg_user()
    if user is None:
        if os.environ.get("CDS_TEST_NO_POSTGRES") == "1":
            pytest.skip("CDS_TEST_NO_POSTGRES=1: PostgreSQL tests skipped")
        pytest.skip(f"PostgreSQL not reachable on {PG_HOST}:{PG_PORT} (database {PG_DATABASE}, "
                    "users postgres or root, trust authentication): PostgreSQL tests skipped")
    return user


def _admin_url(user: str) -> str:
    return f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"


@dataclass
class Database:
    """One empty database for a test: ``url`` for the store (DATABASE_URL), ``env`` for a
    server or command using it."""

    backend: str
    url: str
    env: dict[str, str]
    sqlite_path: Path | None = None

    def engine(self):
        return create_engine(self.url)

    def scalar(self, sql: str, **params):
        engine = self.engine()
        try:
            with engine.connect() as connection:
                return connection.execute(text(sql), params).scalar()
        finally:
            engine.dispose()

    def rows(self, sql: str, **params) -> list:
        engine = self.engine()
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql), params))
        finally:
            engine.dispose()

    def execute(self, sql: str, **params) -> None:
        engine = self.engine()
        try:
            with engine.begin() as connection:
                connection.execute(text(sql), params)
        finally:
            engine.dispose()


class Databases:
    """Makes fresh databases; removes the PostgreSQL schemas it made when closed."""

    def __init__(self, root: Path):
        self.root = root
        self._schemas: list[str] = []

    def sqlite(self) -> Database:
        folder = self.root / f"sqlite-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        path = folder / "cds-service.db"
        return Database("sqlite", f"sqlite:///{path}", {"CDS_DATA_DIR": str(folder)}, path)

    def postgresql(self) -> Database:
        user = require_postgres()
        schema = f"cds_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        engine = create_engine(_admin_url(user))
        try:
            with engine.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        finally:
            engine.dispose()
        self._schemas.append(schema)
        url = f"{_admin_url(user)}?options=-csearch_path%3D{schema}"
        return Database("postgresql", url,
                        {"DATABASE_URL": url, "CDS_PATIENT_HASH_KEY": PATIENT_HASH_KEY})

    def make(self, backend: str) -> Database:
        return self.sqlite() if backend == "sqlite" else self.postgresql()

    def close(self) -> None:
        if not self._schemas:
            return
        engine = create_engine(_admin_url(pg_user()))
        try:
            with engine.begin() as connection:
                for schema in self._schemas:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            engine.dispose()
        self._schemas.clear()


def databases_fixture(tmp_path_factory) -> Iterator[Databases]:
    factory = Databases(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.close()


BACKENDS = ("sqlite", "postgresql")
