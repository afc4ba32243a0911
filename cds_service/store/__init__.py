"""The persistent feedback store: every card returned and every feedback item received, in
SQLite (default, a file in CDS_DATA_DIR) or PostgreSQL (DATABASE_URL), with Alembic migrations
and the override analytics built on it.

- ``feedback_store.py``: ``SqlFeedbackStore`` (its life in a process, its transactions and its
  interface), ``create_feedback_store(settings)`` (no I/O) and ``prepare_app(app)`` (called by
  ``server.run`` before gunicorn forks: opens the database, loads the patient hash key, applies
  the migrations; otherwise the first use does);
- ``engine.py``: which database, the engine on it, the migrations; ``schema.py``: the tables;
- ``keys.py``: the patient hash and its key file, a feedback item's identity;
- ``records.py``: the rows of cards and feedback written and read;
- ``per_call.py``, ``sqlite_hot.py``, ``postgres_hot.py``: the writes of every hook call on a
  connection each process keeps;
- ``analytics.py`` (the query) and ``report.py`` (the report as JSON, a table, CSV);
- ``commands.py``: ``cds-service db upgrade`` and ``cds-service report``;
- ``errors.py``: ``StoreError`` and the 503 of a failed request.

This package imports nothing itself: the command line parser imports ``commands.py`` on every
start, and SQLAlchemy is imported only by the modules that talk to the database.
"""
