"""Client tokens seen (jti replay protection shared by every worker and replica).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_seen_tokens",
        sa.Column("token_key", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_cds_seen_tokens_expires_at", "cds_seen_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_cds_seen_tokens_expires_at", table_name="cds_seen_tokens")
    op.drop_table("cds_seen_tokens")
