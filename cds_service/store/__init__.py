"""The persistent feedback store: every card returned and every feedback item received, in
SQLite (default, a file in CDS_DATA_DIR) or PostgreSQL (DATABASE_URL), with Alembic migrations
and the override analytics built on it.

``create_feedback_store(settings)`` builds the store without touching the database;
``prepare_app(app)`` (called by ``server.run`` before gunicorn forks) opens it, loads the
patient hash key and applies the migrations; otherwise the first use does.

SQLAlchemy is imported on first use of the store's names (this package is imported by the
command line parser, which should start fast).
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

_LAZY = {
    "DB_FILE": "sql", "KEY_FILE": "sql", "SqlFeedbackStore": "sql", "StoreError": "sql",
    "default_data_dir": "sql", "head_revision": "sql", "resolve_database_url": "sql",
    "RuleStats": "analytics", "build_report": "analytics", "parse_since": "analytics",
    "render_csv": "analytics", "render_table": "analytics",
}

__all__ = [*_LAZY, "create_feedback_store", "prepare_app", "rule_report"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_feedback_store(settings: Any):
    """The store the settings name (DATABASE_URL, else SQLite in CDS_DATA_DIR). No I/O."""
    from .sql import SqlFeedbackStore, resolve_database_url

    url = resolve_database_url(settings.database_url, settings.data_dir)
    return SqlFeedbackStore(url, settings.patient_hash_key)


def prepare_app(app: Any) -> None:
    """Open and migrate the app's feedback store, if it has one that needs it. Raises
    StoreError."""
    state = getattr(app, "extensions", {}).get("cds")
    prepare = getattr(getattr(state, "feedback_store", None), "prepare", None)
    if prepare is not None:
        prepare()


def rule_report(store: Any, since: datetime | None = None,
                renderer: Any = None) -> dict[str, Any]:
    """The per-rule report as JSON, with rule titles and override reason texts from the card
    templates (``renderer``: a CardRenderer; one is loaded when not given)."""
    from .analytics import build_report

    if renderer is None:
        from ..cards import CardRenderer

        renderer = CardRenderer()
    titles = {rule_id: template.title for rule_id, template in renderer.templates.items()}
    displays = {(renderer.override_system, reason["code"]): reason["display"]
                for template in renderer.templates.values()
                for reason in template.override_reasons}
    return build_report(store.rule_report(since), since, list(renderer.templates), titles,
                        displays)
