"""event delivery: outbox publication sequence, overdue announcements

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("outbox_sequence", schema="crm")))
    op.add_column("outbox", sa.Column("sequence", sa.BigInteger(), nullable=True), schema="crm")
    op.create_unique_constraint(op.f("uq_outbox_sequence"), "outbox", ["sequence"], schema="crm")
    op.drop_index("ix_outbox_unpublished", table_name="outbox", schema="crm")
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["sequence"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("published_at IS NULL AND sequence IS NOT NULL"),
    )
    op.create_index(
        "ix_outbox_unsequenced",
        "outbox",
        ["id"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("sequence IS NULL"),
    )
    op.add_column("payments", sa.Column("overdue_announced_for", sa.Date(), nullable=True), schema="crm")


def downgrade() -> None:
    op.drop_column("payments", "overdue_announced_for", schema="crm")
    op.drop_index(
        "ix_outbox_unsequenced", table_name="outbox", schema="crm", postgresql_where=sa.text("sequence IS NULL")
    )
    op.drop_index("ix_outbox_unpublished", table_name="outbox", schema="crm")
    # Rows waiting for a sequence were never published; the old index covers them again.
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_constraint(op.f("uq_outbox_sequence"), "outbox", schema="crm", type_="unique")
    op.drop_column("outbox", "sequence", schema="crm")
    op.execute(sa.schema.DropSequence(sa.Sequence("outbox_sequence", schema="crm")))
