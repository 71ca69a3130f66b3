"""pipelines and their stages (the default one seeded with the contract's five), each deal in one; stage history

Every existing deal goes into the default pipeline's stage its status maps to, with one synthetic history row.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default pipeline and its stages, with fixed ids (crm.domain.pipelines.rules.SEEDED_* holds the same; a
# migration keeps its own copy, as the code may move on).
PIPELINE_ID = "0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f001"
# (id, key, name, kind, probability, position, the statuses whose deals stand in it as STAGE_OF_STATUS maps them)
STAGES = (
    (
        "0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f101",
        "qualification",
        "Qualification",
        "open",
        10,
        0,
        ("draft", "qualification"),
    ),
    ("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f102", "negotiation", "Negotiation", "open", 40, 1, ("in_progress",)),
    ("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f103", "proposal", "Proposal", "open", 70, 2, ("proposal",)),
    ("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f104", "closedWon", "Closed won", "won", 100, 3, ("won",)),
    ("0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f105", "closedLost", "Closed lost", "lost", 0, 4, ("lost",)),
)

RECORD_COLUMNS = (
    ("id", sa.UUID(), {"nullable": False}),
    ("version", sa.Integer(), {"server_default": sa.text("1"), "nullable": False}),
    ("created_at", sa.DateTime(timezone=True), {"server_default": sa.text("now()"), "nullable": False}),
    ("updated_at", sa.DateTime(timezone=True), {"server_default": sa.text("now()"), "nullable": False}),
    ("created_by_id", sa.UUID(), {"nullable": True}),
    ("updated_by_id", sa.UUID(), {"nullable": True}),
    ("is_deleted", sa.Boolean(), {"server_default": sa.text("false"), "nullable": False}),
    ("deleted_at", sa.DateTime(timezone=True), {"nullable": True}),
    ("deleted_by_id", sa.UUID(), {"nullable": True}),
)


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "lost_reasons",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("lost_reason_required", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        *(sa.Column(name, type_, **options) for name, type_, options in RECORD_COLUMNS),
        sa.CheckConstraint("jsonb_typeof(lost_reasons) = 'array'", name=op.f("ck_pipelines_lost_reasons_array")),
        sa.CheckConstraint("version > 0", name=op.f("ck_pipelines_version_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        schema="crm",
    )
    op.create_index(
        "ix_pipelines_list_order",
        "pipelines",
        ["name", "id"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_index(
        "uq_pipelines_is_default",
        "pipelines",
        ["is_default"],
        unique=True,
        schema="crm",
        postgresql_where=sa.text("is_default AND NOT is_deleted"),
    )
    op.create_index(
        "uq_pipelines_name",
        "pipelines",
        ["name"],
        unique=True,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_table(
        "pipeline_stages",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("pipeline_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("probability", sa.SmallInteger(), nullable=False),
        sa.Column("sla_days", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('open', 'won', 'lost')", name=op.f("ck_pipeline_stages_kind")),
        sa.CheckConstraint("position >= 0", name=op.f("ck_pipeline_stages_position_not_negative")),
        sa.CheckConstraint("probability BETWEEN 0 AND 100", name=op.f("ck_pipeline_stages_probability_range")),
        sa.CheckConstraint("sla_days >= 0", name=op.f("ck_pipeline_stages_sla_days_not_negative")),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["crm.pipelines.id"],
            name=op.f("fk_pipeline_stages_pipeline_id_pipelines"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_stages")),
        sa.UniqueConstraint("pipeline_id", "id", name=op.f("uq_pipeline_stages_pipeline_id_id")),
        schema="crm",
    )
    op.create_index(
        "ix_pipeline_stages_order",
        "pipeline_stages",
        ["pipeline_id", "position"],
        unique=False,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.create_index(
        "uq_pipeline_stages_pipeline_id_key",
        "pipeline_stages",
        ["pipeline_id", "key"],
        unique=True,
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )

    # The default pipeline: the contract's stages. A lost reason is not required in it, so clients that close deals
    # as lost without one keep working; an admin may require one (PATCH /api/v1/pipelines/{id}).
    op.execute(
        sa.text(
            "INSERT INTO crm.pipelines (id, name, is_default, lost_reasons, lost_reason_required) "
            "VALUES (CAST(:id AS uuid), 'Sales', true, '[]'::jsonb, false)"
        ).bindparams(id=PIPELINE_ID)
    )
    for stage_id, key, name, kind, probability, position, _ in STAGES:
        op.execute(
            sa.text(
                "INSERT INTO crm.pipeline_stages (id, pipeline_id, key, name, kind, probability, position) "
                "VALUES (CAST(:id AS uuid), CAST(:pipeline AS uuid), :key, :name, :kind, :probability, :position)"
            ).bindparams(
                id=stage_id,
                pipeline=PIPELINE_ID,
                key=key,
                name=name,
                kind=kind,
                probability=probability,
                position=position,
            )
        )

    # Every existing deal, live or deleted, into the default pipeline's stage its status maps to, since its last
    # change (the best this database knows of when it came there).
    op.add_column("deals", sa.Column("pipeline_id", sa.UUID(), nullable=True), schema="crm")
    op.add_column("deals", sa.Column("stage_id", sa.UUID(), nullable=True), schema="crm")
    op.add_column("deals", sa.Column("stage_entered_at", sa.DateTime(timezone=True), nullable=True), schema="crm")
    op.add_column("deals", sa.Column("lost_reason", sa.String(length=255), nullable=True), schema="crm")
    stage_of_status = " ".join(
        f"WHEN '{status}' THEN '{stage_id}'::uuid" for stage_id, *_, statuses in STAGES for status in statuses
    )
    op.execute(
        f"UPDATE crm.deals SET pipeline_id = '{PIPELINE_ID}'::uuid, stage_id = CASE status {stage_of_status} END, "
        "stage_entered_at = updated_at"
    )
    for column in ("pipeline_id", "stage_id", "stage_entered_at"):
        op.alter_column("deals", column, nullable=False, schema="crm")
    op.create_index("ix_deals_pipeline_id", "deals", ["pipeline_id"], unique=False, schema="crm")
    op.create_index("ix_deals_stage_id", "deals", ["stage_id"], unique=False, schema="crm")
    op.create_foreign_key(
        op.f("fk_deals_pipeline_id_pipeline_stages"),
        "deals",
        "pipeline_stages",
        ["pipeline_id", "stage_id"],
        ["pipeline_id", "id"],
        source_schema="crm",
        referent_schema="crm",
        ondelete="RESTRICT",
    )
    op.create_foreign_key(
        op.f("fk_deals_pipeline_id_pipelines"),
        "deals",
        "pipelines",
        ["pipeline_id"],
        ["id"],
        source_schema="crm",
        referent_schema="crm",
        ondelete="RESTRICT",
    )

    op.create_table(
        "deal_stage_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("from_pipeline_id", sa.UUID(), nullable=True),
        sa.Column("from_stage_id", sa.UUID(), nullable=True),
        sa.Column("from_stage", sa.String(length=64), nullable=True),
        sa.Column("to_pipeline_id", sa.UUID(), nullable=False),
        sa.Column("to_stage_id", sa.UUID(), nullable=False),
        sa.Column("to_stage", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("rule_id", sa.UUID(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds_in_previous", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "source IN ('manual', 'rule', 'migration', 'created')", name=op.f("ck_deal_stage_history_source")
        ),
        sa.CheckConstraint(
            "seconds_in_previous >= 0", name=op.f("ck_deal_stage_history_seconds_in_previous_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["crm.deals.id"], name=op.f("fk_deal_stage_history_deal_id_deals"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["from_pipeline_id", "from_stage_id"],
            ["crm.pipeline_stages.pipeline_id", "crm.pipeline_stages.id"],
            name=op.f("fk_deal_stage_history_from_pipeline_id_pipeline_stages"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["to_pipeline_id", "to_stage_id"],
            ["crm.pipeline_stages.pipeline_id", "crm.pipeline_stages.id"],
            name=op.f("fk_deal_stage_history_to_pipeline_id_pipeline_stages"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_stage_history")),
        schema="crm",
    )
    # History begins here: one row per existing deal, where it stands now, in the order the deals were made.
    op.execute(
        "INSERT INTO crm.deal_stage_history (deal_id, to_pipeline_id, to_stage_id, to_stage, source, at) "
        "SELECT d.id, d.pipeline_id, d.stage_id, s.key, 'migration', now() "
        "FROM crm.deals d JOIN crm.pipeline_stages s ON s.id = d.stage_id ORDER BY d.created_at, d.id"
    )
    op.create_index(
        "ix_deal_stage_history_deal_id_id", "deal_stage_history", ["deal_id", "id"], unique=False, schema="crm"
    )
    op.create_index(
        "ix_deal_stage_history_to_stage_id_at", "deal_stage_history", ["to_stage_id", "at"], unique=False, schema="crm"
    )


def downgrade() -> None:
    op.drop_index("ix_deal_stage_history_to_stage_id_at", table_name="deal_stage_history", schema="crm")
    op.drop_index("ix_deal_stage_history_deal_id_id", table_name="deal_stage_history", schema="crm")
    op.drop_table("deal_stage_history", schema="crm")
    op.drop_constraint(op.f("fk_deals_pipeline_id_pipelines"), "deals", schema="crm", type_="foreignkey")
    op.drop_constraint(op.f("fk_deals_pipeline_id_pipeline_stages"), "deals", schema="crm", type_="foreignkey")
    op.drop_index("ix_deals_stage_id", table_name="deals", schema="crm")
    op.drop_index("ix_deals_pipeline_id", table_name="deals", schema="crm")
    # A deal of another pipeline keeps its status (which its stage's kind decided), as before pipelines.
    op.drop_column("deals", "lost_reason", schema="crm")
    op.drop_column("deals", "stage_entered_at", schema="crm")
    op.drop_column("deals", "stage_id", schema="crm")
    op.drop_column("deals", "pipeline_id", schema="crm")
    op.drop_index(
        "uq_pipeline_stages_pipeline_id_key",
        table_name="pipeline_stages",
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.drop_index(
        "ix_pipeline_stages_order",
        table_name="pipeline_stages",
        schema="crm",
        postgresql_where=sa.text("NOT is_deleted"),
    )
    op.drop_table("pipeline_stages", schema="crm")
    op.drop_index("uq_pipelines_name", table_name="pipelines", schema="crm", postgresql_where=sa.text("NOT is_deleted"))
    op.drop_index(
        "uq_pipelines_is_default",
        table_name="pipelines",
        schema="crm",
        postgresql_where=sa.text("is_default AND NOT is_deleted"),
    )
    op.drop_index(
        "ix_pipelines_list_order", table_name="pipelines", schema="crm", postgresql_where=sa.text("NOT is_deleted")
    )
    op.drop_table("pipelines", schema="crm")
