"""deal lifecycle: policies, calculations, journal, policy documents, tasks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:08:30.706729
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_statuses",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("is_final", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_task_statuses")),
        schema="crm",
    )
    task_statuses = sa.table(
        "task_statuses",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("is_final", sa.Boolean),
        schema="crm",
    )
    op.bulk_insert(
        task_statuses,
        [
            {"code": "pending", "name": "Pending", "is_final": False},
            {"code": "scheduled", "name": "Scheduled", "is_final": False},
            {"code": "in_progress", "name": "In progress", "is_final": False},
            {"code": "completed", "name": "Completed", "is_final": True},
            {"code": "cancelled", "name": "Cancelled", "is_final": True},
        ],
    )
    op.create_table(
        "deal_journal",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 5000", name=op.f("ck_deal_journal_body_length")),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["crm.deals.id"], name=op.f("fk_deal_journal_deal_id_deals"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_journal")),
        schema="crm",
    )
    op.create_index(
        "ix_deal_journal_deal_list_order", "deal_journal", ["deal_id", "created_at", "id"], unique=False, schema="crm"
    )
    op.create_table(
        "policies",
        sa.Column("policy_number", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("premium", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("updated_by_id", sa.UUID(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_policies_currency_iso4217")),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'pending_renewal', 'expired', 'cancelled', 'closed')",
            name=op.f("ck_policies_status"),
        ),
        sa.CheckConstraint("effective_to >= effective_from", name=op.f("ck_policies_period_ordered")),
        sa.CheckConstraint("premium >= 0", name=op.f("ck_policies_premium_not_negative")),
        sa.CheckConstraint("version > 0", name=op.f("ck_policies_version_positive")),
        sa.ForeignKeyConstraint(
            ["client_id"], ["crm.clients.id"], name=op.f("fk_policies_client_id_clients"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["crm.deals.id"], name=op.f("fk_policies_deal_id_deals"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
        sa.UniqueConstraint("policy_number", name=op.f("uq_policies_policy_number")),
        schema="crm",
    )
    op.create_index("ix_policies_client_id", "policies", ["client_id"], unique=False, schema="crm")
    op.create_index("ix_policies_deal_id", "policies", ["deal_id"], unique=False, schema="crm")
    op.create_index(
        "ix_policies_effective_to",
        "policies",
        ["effective_to"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_index(
        "ix_policies_list_order",
        "policies",
        ["created_at", "id"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_table(
        "calculations",
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("insurance_company", sa.String(length=255), nullable=False),
        sa.Column("program_name", sa.String(length=255), nullable=True),
        sa.Column("premium_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("coverage_sum", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("calculation_date", sa.Date(), nullable=False),
        sa.Column("validity_period", postgresql.DATERANGE(), nullable=True),
        sa.Column(
            "files",
            postgresql.ARRAY(sa.String(length=1024)),
            server_default=sa.text("'{}'::character varying[]"),
            nullable=False,
        ),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("linked_policy_id", sa.UUID(), nullable=True),
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
            "linked_policy_id IS NULL OR status = 'confirmed' OR status = 'archived'",
            name=op.f("ck_calculations_link_needs_confirmed"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'ready', 'confirmed', 'archived')", name=op.f("ck_calculations_status")
        ),
        sa.CheckConstraint("coverage_sum >= 0", name=op.f("ck_calculations_coverage_not_negative")),
        sa.CheckConstraint("premium_amount >= 0", name=op.f("ck_calculations_premium_not_negative")),
        sa.CheckConstraint("version > 0", name=op.f("ck_calculations_version_positive")),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["crm.deals.id"], name=op.f("fk_calculations_deal_id_deals"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["linked_policy_id"],
            ["crm.policies.id"],
            name=op.f("fk_calculations_linked_policy_id_policies"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calculations")),
        sa.UniqueConstraint("linked_policy_id", name=op.f("uq_calculations_linked_policy_id")),
        schema="crm",
    )
    op.create_index(
        "ix_calculations_deal_list_order",
        "calculations",
        ["deal_id", "created_at", "id"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_table(
        "policy_documents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("policy_id", sa.UUID(), nullable=False),
        sa.Column("document_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["crm.policies.id"], name=op.f("fk_policy_documents_policy_id_policies"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_documents")),
        sa.UniqueConstraint("policy_id", "document_id", name="uq_policy_documents_policy_id_document_id"),
        schema="crm",
    )
    op.create_index(
        "ix_policy_documents_policy_list_order",
        "policy_documents",
        ["policy_id", "created_at", "id"],
        unique=False,
        schema="crm",
    )
    op.create_table(
        "tasks",
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=8), server_default=sa.text("'normal'"), nullable=False),
        sa.Column("assignee_id", sa.UUID(), nullable=True),
        sa.Column("author_id", sa.UUID(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_reason", sa.Text(), nullable=True),
        sa.Column("deal_id", sa.UUID(), nullable=True),
        sa.Column("client_id", sa.UUID(), nullable=True),
        sa.Column("policy_id", sa.UUID(), nullable=True),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column(
            "context", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column(
            "payload", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("updated_by_id", sa.UUID(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("priority IN ('low', 'normal', 'high')", name=op.f("ck_tasks_priority")),
        sa.CheckConstraint("version > 0", name=op.f("ck_tasks_version_positive")),
        sa.ForeignKeyConstraint(
            ["client_id"], ["crm.clients.id"], name=op.f("fk_tasks_client_id_clients"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["crm.deals.id"], name=op.f("fk_tasks_deal_id_deals"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["crm.policies.id"], name=op.f("fk_tasks_policy_id_policies"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["status"], ["crm.task_statuses.code"], name=op.f("fk_tasks_status_task_statuses")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        schema="crm",
    )
    op.create_index("ix_tasks_assignee_id", "tasks", ["assignee_id"], unique=False, schema="crm")
    op.create_index("ix_tasks_client_id", "tasks", ["client_id"], unique=False, schema="crm")
    op.create_index("ix_tasks_deal_id", "tasks", ["deal_id"], unique=False, schema="crm")
    op.create_index(
        "ix_tasks_list_order",
        "tasks",
        [sa.literal_column("due_at ASC NULLS LAST"), "created_at", "id"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_index("ix_tasks_payment_id", "tasks", ["payment_id"], unique=False, schema="crm")
    op.create_index("ix_tasks_policy_id", "tasks", ["policy_id"], unique=False, schema="crm")
    op.create_index("ix_tasks_status_scheduled_for", "tasks", ["status", "scheduled_for"], unique=False, schema="crm")
    op.create_table(
        "task_reminders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("task_id", sa.UUID(), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("channel IN ('sse', 'telegram')", name=op.f("ck_task_reminders_channel")),
        sa.ForeignKeyConstraint(
            ["task_id"], ["crm.tasks.id"], name=op.f("fk_task_reminders_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_reminders")),
        sa.UniqueConstraint("task_id", "remind_at", "channel", name="uq_task_reminders_task_id_remind_at_channel"),
        schema="crm",
    )
    op.create_index(
        "ix_task_reminders_due",
        "task_reminders",
        ["remind_at"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_task_reminders_due", table_name="task_reminders", schema="crm", postgresql_where=sa.text("sent_at IS NULL")
    )
    op.drop_table("task_reminders", schema="crm")
    op.drop_index("ix_tasks_status_scheduled_for", table_name="tasks", schema="crm")
    op.drop_index("ix_tasks_policy_id", table_name="tasks", schema="crm")
    op.drop_index("ix_tasks_payment_id", table_name="tasks", schema="crm")
    op.drop_index("ix_tasks_list_order", table_name="tasks", schema="crm", postgresql_where=sa.text("NOT is_deleted"))
    op.drop_index("ix_tasks_deal_id", table_name="tasks", schema="crm")
    op.drop_index("ix_tasks_client_id", table_name="tasks", schema="crm")
    op.drop_index("ix_tasks_assignee_id", table_name="tasks", schema="crm")
    op.drop_table("tasks", schema="crm")
    op.drop_index("ix_policy_documents_policy_list_order", table_name="policy_documents", schema="crm")
    op.drop_table("policy_documents", schema="crm")
    op.drop_index(
        "ix_calculations_deal_list_order",
        table_name="calculations",
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.drop_table("calculations", schema="crm")
    op.drop_index(
        "ix_policies_list_order", table_name="policies", schema="crm", postgresql_where=sa.text("NOT is_deleted")
    )
    op.drop_index(
        "ix_policies_effective_to", table_name="policies", schema="crm", postgresql_where=sa.text("NOT is_deleted")
    )
    op.drop_index("ix_policies_deal_id", table_name="policies", schema="crm")
    op.drop_index("ix_policies_client_id", table_name="policies", schema="crm")
    op.drop_table("policies", schema="crm")
    op.drop_index("ix_deal_journal_deal_list_order", table_name="deal_journal", schema="crm")
    op.drop_table("deal_journal", schema="crm")
    op.drop_table("task_statuses", schema="crm")
