"""deal members and deals by owner (what record-level access reads)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deal_members",
        sa.Column("deal_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.CheckConstraint("role IN ('executor', 'co_owner')", name=op.f("ck_deal_members_role")),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["crm.deals.id"], name=op.f("fk_deal_members_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("deal_id", "user_id", name=op.f("pk_deal_members")),
        schema="crm",
    )
    op.create_index("ix_deal_members_user_id", "deal_members", ["user_id", "deal_id"], unique=False, schema="crm")
    op.create_index("ix_deals_owner_id", "deals", ["owner_id"], unique=False, schema="crm")


def downgrade() -> None:
    op.drop_index("ix_deals_owner_id", table_name="deals", schema="crm")
    op.drop_index("ix_deal_members_user_id", table_name="deal_members", schema="crm")
    op.drop_table("deal_members", schema="crm")
