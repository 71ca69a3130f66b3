"""inbound events journal (CloudEvents received over RabbitMQ or HTTP, deduplicated by id)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
# The lead re-chains 0009 (notifications core) -> 0010 -> 0011 at merge.
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("subject", sa.String(length=1024), nullable=True),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("transport", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("transport IN ('amqp', 'http')", name=op.f("ck_inbound_events_transport")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_events")),
        schema="crm",
    )
    # What crm-worker's prune-inbound-events deletes, oldest first.
    op.create_index("ix_inbound_events_received_at", "inbound_events", ["received_at"], schema="crm")


def downgrade() -> None:
    op.drop_index("ix_inbound_events_received_at", table_name="inbound_events", schema="crm")
    op.drop_table("inbound_events", schema="crm")
