"""user contacts and fired occasions (reminders and occasions that reach people)

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-01 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_contacts",
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("telegram_id", sa.String(length=64), nullable=True),
        sa.Column("preferred_channel", sa.String(length=16), server_default=sa.text("'sse'"), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.CheckConstraint("preferred_channel IN ('sse', 'telegram')", name=op.f("ck_user_contacts_preferred_channel")),
        sa.CheckConstraint(
            "preferred_channel <> 'telegram' OR telegram_id IS NOT NULL",
            name=op.f("ck_user_contacts_telegram_reachable"),
        ),
        sa.CheckConstraint("version > 0", name=op.f("ck_user_contacts_version_positive")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_contacts")),
        schema="crm",
    )
    op.create_table(
        "occasions",
        sa.Column("occasion", sa.String(length=32), nullable=False),
        sa.Column("subject_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("occasion_date", sa.Date(), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("occasion IN ('payment.due', 'policy.renewal')", name=op.f("ck_occasions_occasion")),
        sa.PrimaryKeyConstraint("occasion", "subject_id", "occasion_date", name=op.f("pk_occasions")),
        schema="crm",
    )


def downgrade() -> None:
    op.drop_table("occasions", schema="crm")
    op.drop_table("user_contacts", schema="crm")
