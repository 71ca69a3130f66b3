"""outbox written once: sequences given by the writing transaction, the relay's progress as a cursor

Rows the relay had numbered keep their sequence (every SSE id and automation feed position handed out keeps its
meaning); rows it had not numbered yet get this migration's transaction id times 2**20 plus their rank by id,
which is above every earlier sequence and below every sequence written after it. The relay's cursor starts
below the first row not published yet.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RANK_BITS = 20  # as crm.infrastructure.db.outbox.RANK_BITS: a migration keeps the value it was written with


def upgrade() -> None:
    op.create_table(
        "outbox_cursor",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("position", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_outbox_cursor")),
        schema="crm",
    )
    # The new sequences must start above the old ones, or a client's Last-Event-ID would skip events.
    op.execute(
        f"""
DO $$
BEGIN
    IF (SELECT coalesce(max(sequence), 0) FROM crm.outbox)
       >= pg_current_xact_id()::text::bigint << {RANK_BITS} THEN
        RAISE EXCEPTION 'outbox sequences already reach the transaction-id range; cannot migrate';
    END IF;
END $$
"""
    )
    op.execute(
        f"""
UPDATE crm.outbox AS o SET sequence = (pg_current_xact_id()::text::bigint << {RANK_BITS}) + n.rank - 1
FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM crm.outbox WHERE sequence IS NULL) AS n
WHERE o.id = n.id
"""
    )
    op.execute(
        """
INSERT INTO crm.outbox_cursor (name, position)
SELECT 'relay', coalesce(
    (SELECT min(sequence) - 1 FROM crm.outbox WHERE published_at IS NULL),
    (SELECT max(sequence) FROM crm.outbox),
    0
)
"""
    )
    op.drop_index(
        "ix_outbox_unsequenced", table_name="outbox", schema="crm", postgresql_where=sa.text("sequence IS NULL")
    )
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="crm",
        postgresql_where=sa.text("published_at IS NULL AND sequence IS NOT NULL"),
    )
    op.alter_column("outbox", "sequence", existing_type=sa.BigInteger(), nullable=False, schema="crm")
    op.drop_column("outbox", "published_at", schema="crm")
    op.drop_column("outbox", "attempts", schema="crm")
    op.execute(sa.schema.DropSequence(sa.Sequence("outbox_sequence", schema="crm")))


def downgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("outbox_sequence", schema="crm")))
    # The old relay numbers new rows from here on: above every sequence handed out, so ids stay monotonic.
    op.execute("SELECT setval('crm.outbox_sequence', max(sequence)) FROM crm.outbox HAVING count(*) > 0")
    op.add_column(
        "outbox",
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), autoincrement=False, nullable=False),
        schema="crm",
    )
    op.add_column(
        "outbox",
        sa.Column("published_at", sa.DateTime(timezone=True), autoincrement=False, nullable=True),
        schema="crm",
    )
    op.execute(
        """
UPDATE crm.outbox SET published_at = now(), attempts = 1
WHERE sequence <= coalesce((SELECT position FROM crm.outbox_cursor WHERE name = 'relay'), 0)
"""
    )
    op.alter_column("outbox", "sequence", existing_type=sa.BigInteger(), nullable=True, schema="crm")
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
    op.drop_table("outbox_cursor", schema="crm")
