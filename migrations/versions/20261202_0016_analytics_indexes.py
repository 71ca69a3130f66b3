"""indexes for the analytics: deals by pipeline and creation, by closing; stays by pipeline left; incomes by day

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("NOT is_deleted")


def upgrade() -> None:
    op.create_index(
        "ix_deals_pipeline_id_created_at",
        "deals",
        ["pipeline_id", "created_at"],
        unique=False,
        schema="crm",
        postgresql_where=LIVE,
    )
    op.create_index("ix_deals_closed_at", "deals", ["closed_at"], unique=False, schema="crm", postgresql_where=LIVE)
    op.create_index(
        "ix_deal_stage_history_from_pipeline_id_at",
        "deal_stage_history",
        ["from_pipeline_id", "at"],
        unique=False,
        schema="crm",
        postgresql_include=["from_stage_id", "seconds_in_previous", "deal_id"],
    )
    op.create_index(
        "ix_payment_incomes_posted_at",
        "payment_incomes",
        ["posted_at"],
        unique=False,
        schema="crm",
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_payment_incomes_posted_at", table_name="payment_incomes", schema="crm", postgresql_where=LIVE)
    op.drop_index("ix_deal_stage_history_from_pipeline_id_at", table_name="deal_stage_history", schema="crm")
    op.drop_index("ix_deals_closed_at", table_name="deals", schema="crm", postgresql_where=LIVE)
    op.drop_index("ix_deals_pipeline_id_created_at", table_name="deals", schema="crm", postgresql_where=LIVE)
