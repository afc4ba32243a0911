"""The feedback store: cards shown, their suggestions, feedback received.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cds_cards",
        sa.Column("card_uuid", sa.String(64), primary_key=True),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("hook", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("patient_hash", sa.String(64), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_cds_cards_rule_id", "cds_cards", ["rule_id"])
    op.create_index("ix_cds_cards_issued_at", "cds_cards", ["issued_at"])
    op.create_table(
        "cds_card_suggestions",
        sa.Column("card_uuid", sa.String(64),
                  sa.ForeignKey("cds_cards.card_uuid", ondelete="CASCADE"), primary_key=True),
        sa.Column("suggestion_uuid", sa.String(128), primary_key=True),
    )
    op.create_table(
        "cds_feedback",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(64),
                  sa.ForeignKey("cds_cards.card_uuid", ondelete="CASCADE"), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_reason_system", sa.Text(), nullable=True),
        sa.Column("override_reason_code", sa.Text(), nullable=True),
        sa.Column("override_comment", sa.Text(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("dedup_key", name="uq_cds_feedback_dedup_key"),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')",
                           name="ck_cds_feedback_outcome"),
    )
    op.create_index("ix_cds_feedback_card_uuid", "cds_feedback", ["card_uuid"])


def downgrade() -> None:
    op.drop_table("cds_feedback")
    op.drop_table("cds_card_suggestions")
    op.drop_table("cds_cards")
