"""Alembic environment for the feedback store.

Migrations run only through ``cds_service.store`` (start-up, or ``cds-service db upgrade``),
which passes an open connection that already holds the migration lock (an advisory lock on
PostgreSQL, the write lock on SQLite), so that processes starting together migrate once.
"""

from alembic import context

from cds_service.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("run the feedback store's migrations with `cds-service db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
