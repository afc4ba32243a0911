"""The client each card was issued to (the verified JWT's issuer and tenant), so that feedback
is taken only from that client.

Cards stored before this revision have neither: they take feedback only from a call without
client authentication (CDS_AUTH_DISABLED=true), as a card issued then would.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cds_cards", sa.Column("client_issuer", sa.Text(), nullable=True))
    op.add_column("cds_cards", sa.Column("client_tenant", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cds_cards") as batch:  # SQLite rebuilds the table
        batch.drop_column("client_tenant")
        batch.drop_column("client_issuer")
