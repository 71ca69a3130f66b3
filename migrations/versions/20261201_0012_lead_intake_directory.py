"""lead intake directory: operators, sources and their weights (the first slice of issue 13; leads and appeals follow)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 19:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("max_load", sa.Integer(), nullable=False),
        sa.Column("working_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "absences", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
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
        sa.CheckConstraint("jsonb_typeof(absences) = 'array'", name=op.f("ck_operators_absences_array")),
        sa.CheckConstraint("max_load >= 0", name=op.f("ck_operators_max_load_not_negative")),
        sa.CheckConstraint("version > 0", name=op.f("ck_operators_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        schema="crm",
    )
    op.create_index(
        "ix_operators_list_order",
        "operators",
        ["name", "id"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_index(
        "uq_operators_user_id",
        "operators",
        ["user_id"],
        unique=True,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_table(
        "sources",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("sticky", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
            "channel IN ('telegram', 'web', 'partner', 'phone', 'email', 'other')", name=op.f("ck_sources_channel")
        ),
        sa.CheckConstraint("version > 0", name=op.f("ck_sources_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        schema="crm",
    )
    op.create_index(
        "ix_sources_list_order",
        "sources",
        ["name", "id"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_index(
        "uq_sources_name", "sources", ["name"], unique=True, schema="crm", postgresql_where=sa.text("NOT is_deleted")
    )
    op.create_table(
        "source_weights",
        sa.Column("source_id", sa.UUID(), nullable=False),
        sa.Column("operator_id", sa.UUID(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("weight >= 0", name=op.f("ck_source_weights_weight_not_negative")),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["crm.operators.id"],
            name=op.f("fk_source_weights_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["crm.sources.id"], name=op.f("fk_source_weights_source_id_sources"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("source_id", "operator_id", name=op.f("pk_source_weights")),
        schema="crm",
    )
    op.create_index("ix_source_weights_operator_id", "source_weights", ["operator_id"], unique=False, schema="crm")


def downgrade() -> None:
    op.drop_index("ix_source_weights_operator_id", table_name="source_weights", schema="crm")
    op.drop_table("source_weights", schema="crm")
    op.drop_index("uq_sources_name", table_name="sources", schema="crm", postgresql_where=sa.text("NOT is_deleted"))
    op.drop_index(
        "ix_sources_list_order", table_name="sources", schema="crm", postgresql_where=sa.text("NOT is_deleted")
    )
    op.drop_table("sources", schema="crm")
    op.drop_index(
        "uq_operators_user_id", table_name="operators", schema="crm", postgresql_where=sa.text("NOT is_deleted")
    )
    op.drop_index(
        "ix_operators_list_order", table_name="operators", schema="crm", postgresql_where=sa.text("NOT is_deleted")
    )
    op.drop_table("operators", schema="crm")
