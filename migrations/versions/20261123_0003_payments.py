"""payments: instalments of a policy, their incomes and expenses, history; tasks.payment_id FK

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:47:07.313166
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("policy_id", sa.UUID(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("planned_date", sa.Date(), nullable=False),
        sa.Column("planned_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("actual_date", sa.Date(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("recorded_by_id", sa.UUID(), nullable=True),
        sa.Column("incomes_total", sa.Numeric(precision=14, scale=2), server_default=sa.text("0"), nullable=False),
        sa.Column("expenses_total", sa.Numeric(precision=14, scale=2), server_default=sa.text("0"), nullable=False),
        sa.Column("net_total", sa.Numeric(precision=14, scale=2), server_default=sa.text("0"), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("updated_by_id", sa.UUID(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payments_currency_iso4217")),
        sa.CheckConstraint("net_total = incomes_total - expenses_total", name=op.f("ck_payments_net_total")),
        sa.CheckConstraint("planned_amount > 0", name=op.f("ck_payments_planned_amount_positive")),
        sa.CheckConstraint("sequence > 0", name=op.f("ck_payments_sequence_positive")),
        sa.CheckConstraint("version > 0", name=op.f("ck_payments_version_positive")),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["crm.policies.id"], name=op.f("fk_payments_policy_id_policies"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("policy_id", "sequence", name="uq_payments_policy_id_sequence"),
        schema="crm",
    )
    op.create_index(
        "ix_payments_planned_date",
        "payments",
        ["planned_date"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_table(
        "payment_expenses",
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("posted_at", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("updated_by_id", sa.UUID(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "category IN ('client_discount', 'colleague_payout', 'agent_fee', 'processing', 'refund', 'other')",
            name=op.f("ck_payment_expenses_category"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payment_expenses_currency_iso4217")),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_payment_expenses_amount_not_zero")),
        sa.CheckConstraint(
            "amount > 0 OR (note IS NOT NULL AND length(trim(note)) > 0)",
            name=op.f("ck_payment_expenses_correction_needs_note"),
        ),
        sa.CheckConstraint("version > 0", name=op.f("ck_payment_expenses_version_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["crm.payments.id"],
            name=op.f("fk_payment_expenses_payment_id_payments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_expenses")),
        schema="crm",
    )
    op.create_index(
        "ix_payment_expenses_payment_list_order",
        "payment_expenses",
        ["payment_id", "posted_at", "created_at", "id"],
        unique=False,
        schema="crm",
    )
    op.create_table(
        "payment_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(
            "action IN ('created', 'updated', 'deleted', 'restored')", name=op.f("ck_payment_history_action")
        ),
        sa.CheckConstraint("entity IN ('payment', 'income', 'expense')", name=op.f("ck_payment_history_entity")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["crm.payments.id"],
            name=op.f("fk_payment_history_payment_id_payments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_history")),
        schema="crm",
    )
    op.create_index(
        "ix_payment_history_payment_list_order",
        "payment_history",
        ["payment_id", sa.literal_column("id DESC")],
        unique=False,
        schema="crm",
    )
    op.create_table(
        "payment_incomes",
        sa.Column("payment_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("posted_at", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("updated_by_id", sa.UUID(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "category IN ('premium', 'commission', 'installment', 'bonus', 'refund', 'other')",
            name=op.f("ck_payment_incomes_category"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payment_incomes_currency_iso4217")),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_payment_incomes_amount_not_zero")),
        sa.CheckConstraint(
            "amount > 0 OR (note IS NOT NULL AND length(trim(note)) > 0)",
            name=op.f("ck_payment_incomes_correction_needs_note"),
        ),
        sa.CheckConstraint("version > 0", name=op.f("ck_payment_incomes_version_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["crm.payments.id"],
            name=op.f("fk_payment_incomes_payment_id_payments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_incomes")),
        schema="crm",
    )
    op.create_index(
        "ix_payment_incomes_payment_list_order",
        "payment_incomes",
        ["payment_id", "posted_at", "created_at", "id"],
        unique=False,
        schema="crm",
    )
    op.create_foreign_key(
        op.f("fk_tasks_payment_id_payments"),
        "tasks",
        "payments",
        ["payment_id"],
        ["id"],
        source_schema="crm",
        referent_schema="crm",
        ondelete="RESTRICT",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_tasks_payment_id_payments"), "tasks", schema="crm", type_="foreignkey")
    op.drop_index("ix_payment_incomes_payment_list_order", table_name="payment_incomes", schema="crm")
    op.drop_table("payment_incomes", schema="crm")
    op.drop_index("ix_payment_history_payment_list_order", table_name="payment_history", schema="crm")
    op.drop_table("payment_history", schema="crm")
    op.drop_index("ix_payment_expenses_payment_list_order", table_name="payment_expenses", schema="crm")
    op.drop_table("payment_expenses", schema="crm")
    op.drop_index(
        "ix_payments_planned_date", table_name="payments", schema="crm", postgresql_where=sa.text("NOT is_deleted")
    )
    op.drop_table("payments", schema="crm")
