"""automation rules, their runs and the feed they follow

The rules follow the events from the latest one published when this runs: what happened before there were
rules fires nothing.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 00:54:02.479349
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automation_feed",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("position", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_automation_feed")),
        schema="crm",
    )
    op.create_table(
        "automation_rules",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trigger", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("conditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("action", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("updated_by_id", sa.UUID(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("enabled = (enabled_at IS NOT NULL)", name=op.f("ck_automation_rules_enabled_since")),
        sa.CheckConstraint("version > 0", name=op.f("ck_automation_rules_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_rules")),
        schema="crm",
    )
    op.create_table(
        "automation_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("rule_id", sa.UUID(), nullable=False),
        sa.Column("occasion", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deal_id", sa.UUID(), nullable=True),
        sa.Column("event_id", sa.UUID(), nullable=True),
        sa.Column("cause", postgresql.ARRAY(sa.UUID()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column(
            "detail", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('done', 'failed', 'skipped', 'loop_stopped')", name=op.f("ck_automation_runs_status")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["crm.automation_rules.id"],
            name=op.f("fk_automation_runs_rule_id_automation_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        schema="crm",
    )
    op.create_index("ix_automation_runs_rule_id_id", "automation_runs", ["rule_id", "id"], unique=False, schema="crm")
    op.create_index(
        "uq_automation_runs_rule_id_occasion", "automation_runs", ["rule_id", "occasion"], unique=True, schema="crm"
    )
    op.execute(
        "INSERT INTO crm.automation_feed (name, position) SELECT 'events', coalesce(max(sequence), 0) FROM crm.outbox"
    )


def downgrade() -> None:
    op.drop_index("uq_automation_runs_rule_id_occasion", table_name="automation_runs", schema="crm")
    op.drop_index("ix_automation_runs_rule_id_id", table_name="automation_runs", schema="crm")
    op.drop_table("automation_runs", schema="crm")
    op.drop_table("automation_rules", schema="crm")
    op.drop_table("automation_feed", schema="crm")
