"""user contacts, and the dates payments and policies were noticed for (occasions that reach people)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
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
    op.add_column("payments", sa.Column("due_noticed_for", sa.Date(), nullable=True), schema="crm")
    op.create_index(
        "ix_payments_due_unnoticed_planned_date",
        "payments",
        ["planned_date"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted AND due_noticed_for IS DISTINCT FROM planned_date"),
    )
    op.add_column("policies", sa.Column("renewal_noticed_for", sa.Date(), nullable=True), schema="crm")
    op.create_index(
        "ix_policies_renewal_unnoticed_effective_to",
        "policies",
        ["effective_to"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted AND renewal_noticed_for IS DISTINCT FROM effective_to"),
    )


def downgrade() -> None:
    op.drop_index("ix_policies_renewal_unnoticed_effective_to", table_name="policies", schema="crm")
    op.drop_column("policies", "renewal_noticed_for", schema="crm")
    op.drop_index("ix_payments_due_unnoticed_planned_date", table_name="payments", schema="crm")
    op.drop_column("payments", "due_noticed_for", schema="crm")
    op.drop_table("user_contacts", schema="crm")
