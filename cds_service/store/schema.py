"""The feedback store's tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create
them; this module describes the current shape for the queries.

``cds_cards``: every card the service returned (one row per card uuid), the patient only as a
keyed hash (HMAC-SHA256, hex). ``cds_card_suggestions``: the suggestion uuids on each card, so
feedback naming a suggestion that was not on the card can be refused. ``cds_feedback``: every
feedback item received, once: ``dedup_key`` (a SHA-256 over the card, outcome, accepted
suggestions, override reason and outcome instant) is unique, and inserts skip a row whose key
is already there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

#: Alembic's version table, prefixed like ours so the service can share a database.
VERSION_TABLE = "cds_alembic_version"

class UTCDateTime(TypeDecorator):
    """An aware UTC datetime, stored without zone (SQLite has none) and read back as UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# Autoincrementing 64-bit ids on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

cards = Table(
    "cds_cards",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(128), nullable=False),
    Column("hook", String(64), nullable=False),
    Column("hook_instance", String(64), nullable=False),
    Column("rule_id", String(128), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("patient_hash", String(64), nullable=True),
    Column("issued_at", UTCDateTime(), nullable=False),
    # the client the card was issued to (its verified JWT's iss and tenant; none without
    # client authentication): feedback on the card is taken from that client only
    Column("client_issuer", Text(), nullable=True),
    Column("client_tenant", Text(), nullable=True),
    # what the card rests on, as JSON: references and offsets only, never the words of a note
    # (Evidence.as_reference); NULL for a card without evidence
    Column("evidence", Text(), nullable=True),
    Index("ix_cds_cards_rule_id", "rule_id"),
    Index("ix_cds_cards_issued_at", "issued_at"),
)

card_suggestions = Table(
    "cds_card_suggestions",
    metadata,
    Column("card_uuid", String(64), ForeignKey("cds_cards.card_uuid", ondelete="CASCADE"),
           primary_key=True),
    Column("suggestion_uuid", String(128), primary_key=True),
)

feedback = Table(
    "cds_feedback",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("dedup_key", String(64), nullable=False),
    Column("card_uuid", String(64), ForeignKey("cds_cards.card_uuid", ondelete="CASCADE"),
           nullable=False),
    Column("service_id", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", JSON(), nullable=False),
    Column("override_reason_system", Text(), nullable=True),
    Column("override_reason_code", Text(), nullable=True),
    Column("override_comment", Text(), nullable=True),
    Column("outcome_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    UniqueConstraint("dedup_key", name="uq_cds_feedback_dedup_key"),
    CheckConstraint("outcome IN ('accepted', 'overridden')", name="ck_cds_feedback_outcome"),
    Index("ix_cds_feedback_card_uuid", "card_uuid"),
)

# (iss, jti) of the client JWTs accepted, as a SHA-256, until each token expires: replay
# protection that holds across gunicorn workers and replicas sharing one database.
seen_tokens = Table(
    "cds_seen_tokens",
    metadata,
    Column("token_key", String(64), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_cds_seen_tokens_expires_at", "expires_at"),
)
