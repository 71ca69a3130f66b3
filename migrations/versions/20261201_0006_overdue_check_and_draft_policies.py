"""overdue check marker, draft policies without terms

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:00:00

- ``payments.overdue_announced_for`` becomes ``overdue_checked_for``: the overdue job marks every payment it
  looked at once its planned date passed (announced or not), and a partial index holds only the unchecked ones.
- A draft (or cancelled) policy may lack its premium and cover dates; any other status needs all three.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ISSUED_TERMS = (
    "status IN ('draft', 'cancelled') "
    "OR (premium IS NOT NULL AND effective_from IS NOT NULL AND effective_to IS NOT NULL)"
)


def upgrade() -> None:
    op.alter_column("payments", "overdue_announced_for", new_column_name="overdue_checked_for", schema="crm")
    op.drop_index("ix_payments_planned_date", table_name="payments", schema="crm")
    op.create_index(
        "ix_payments_unchecked_planned_date",
        "payments",
        ["planned_date"],
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted AND overdue_checked_for IS DISTINCT FROM planned_date"),
    )
    for column in ("premium", "effective_from", "effective_to"):
        op.alter_column("policies", column, nullable=True, schema="crm")
    op.create_check_constraint(op.f("ck_policies_issued_terms"), "policies", ISSUED_TERMS, schema="crm")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_policies_issued_terms"), "policies", type_="check", schema="crm")
    # A draft without terms cannot be kept by the older schema: it gets a zero premium and a one-day cover
    # starting on the day it was recorded, so the downgrade never fails and loses no policy.
    op.execute("UPDATE crm.policies SET premium = coalesce(premium, 0)")
    op.execute("UPDATE crm.policies SET effective_from = coalesce(effective_from, effective_to, created_at::date)")
    op.execute("UPDATE crm.policies SET effective_to = coalesce(effective_to, effective_from)")
    for column in ("premium", "effective_from", "effective_to"):
        op.alter_column("policies", column, nullable=False, schema="crm")
    op.drop_index("ix_payments_unchecked_planned_date", table_name="payments", schema="crm")
    op.create_index(
        "ix_payments_planned_date",
        "payments",
        ["planned_date"],
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.alter_column("payments", "overdue_checked_for", new_column_name="overdue_announced_for", schema="crm")
