"""permission sync jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "permission_sync_jobs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("owner_type", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("users", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "owner_type IN ('client', 'deal', 'policy')", name=op.f("ck_permission_sync_jobs_owner_type")
        ),
        sa.CheckConstraint("status IN ('pending', 'queued', 'failed')", name=op.f("ck_permission_sync_jobs_status")),
        sa.CheckConstraint(
            "CASE WHEN jsonb_typeof(users) = 'array' THEN jsonb_array_length(users) BETWEEN 1 AND 1000 ELSE false END",
            name=op.f("ck_permission_sync_jobs_users_list"),
        ),
        sa.CheckConstraint(
            "(status = 'failed') = (error IS NOT NULL)", name=op.f("ck_permission_sync_jobs_error_when_failed")
        ),
        sa.CheckConstraint(
            "(status = 'queued') = (queued_at IS NOT NULL)", name=op.f("ck_permission_sync_jobs_queued_at_when_queued")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permission_sync_jobs")),
        schema="crm",
    )
    op.create_index(
        "ix_permission_sync_jobs_owner",
        "permission_sync_jobs",
        ["owner_type", "owner_id", "created_at"],
        unique=False,
        schema="crm",
    )
    op.create_index(
        "ix_permission_sync_jobs_pending",
        "permission_sync_jobs",
        ["created_at"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_permission_sync_jobs_pending", table_name="permission_sync_jobs", schema="crm")
    op.drop_index("ix_permission_sync_jobs_owner", table_name="permission_sync_jobs", schema="crm")
    op.drop_table("permission_sync_jobs", schema="crm")
