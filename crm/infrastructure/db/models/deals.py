"""Deals."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns, one_of

STAGE_CHANGE_SOURCES = ("manual", "rule", "migration", "created")


class DealRow(RecordColumns, Base):
    __tablename__ = "deals"

    client_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("clients.id", ondelete="RESTRICT"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    next_review_at: Mapped[date] = mapped_column(Date, nullable=False)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pipeline_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("pipelines.id", ondelete="RESTRICT"), nullable=False
    )
    stage_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # When the deal came into its stage: the history's seconds_in_previous counts from it.
    stage_entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    lost_reason: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        # The stage is one of the deal's pipeline.
        ForeignKeyConstraint(
            ["pipeline_id", "stage_id"],
            ["pipeline_stages.pipeline_id", "pipeline_stages.id"],
            ondelete="RESTRICT",
        ),
        CheckConstraint(
            "status IN ('draft', 'qualification', 'in_progress', 'proposal', 'won', 'lost')", name="status"
        ),
        CheckConstraint("version > 0", name="version_positive"),
        Index("ix_deals_client_id", "client_id"),
        # A pipeline's or a stage's live deals, counted before it is removed; the pipeline and stage filters.
        Index("ix_deals_pipeline_id", "pipeline_id"),
        Index("ix_deals_stage_id", "stage_id"),
        # The analytics: a pipeline's deals created in a period (the funnel), deals closed in a period.
        Index("ix_deals_pipeline_id_created_at", "pipeline_id", "created_at", postgresql_where=text("NOT is_deleted")),
        Index("ix_deals_closed_at", "closed_at", postgresql_where=text("NOT is_deleted")),
        # The access rules find the deals a user owns, deleted ones too (their events stay theirs).
        Index("ix_deals_owner_id", "owner_id"),
        # The list order (next_review_at, updated_at, id), live rows only; with the status and owner
        # variants the common filters stay index scans in that order.
        Index(
            "ix_deals_list_order",
            "next_review_at",
            "updated_at",
            "id",
            postgresql_where=text("NOT is_deleted"),
        ),
        Index(
            "ix_deals_status_list_order",
            "status",
            "next_review_at",
            "updated_at",
            "id",
            postgresql_where=text("NOT is_deleted"),
        ),
        Index(
            "ix_deals_owner_list_order",
            "owner_id",
            "next_review_at",
            "updated_at",
            "id",
            postgresql_where=text("NOT is_deleted"),
        ),
    )


class DealStageHistoryRow(Base):
    """Append-only: every stage a deal came into, from where, by whom, and how long it stayed in the one before.
    The stage keys are kept as they were served; the stages are referenced with their pipelines."""

    __tablename__ = "deal_stage_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deals.id", ondelete="RESTRICT"), nullable=False
    )
    from_pipeline_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    from_stage_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    from_stage: Mapped[str | None] = mapped_column(String(64))
    to_pipeline_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    to_stage_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    to_stage: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The automation rule that moved the deal (automation comes later: no table to reference yet).
    rule_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    seconds_in_previous: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        ForeignKeyConstraint(
            ["from_pipeline_id", "from_stage_id"],
            ["pipeline_stages.pipeline_id", "pipeline_stages.id"],
            ondelete="RESTRICT",
        ),
        ForeignKeyConstraint(
            ["to_pipeline_id", "to_stage_id"],
            ["pipeline_stages.pipeline_id", "pipeline_stages.id"],
            ondelete="RESTRICT",
        ),
        CheckConstraint(one_of("source", STAGE_CHANGE_SOURCES), name="source"),
        CheckConstraint("seconds_in_previous >= 0", name="seconds_in_previous_not_negative"),
        # A deal's history in order; the deal's foreign key is served by it too.
        Index("ix_deal_stage_history_deal_id_id", "deal_id", "id"),
        # Who came into a stage when: time in stage and funnel analytics.
        Index("ix_deal_stage_history_to_stage_id_at", "to_stage_id", "at"),
        # Stays in a pipeline's stages that ended in a period (time in stage), read from the index alone.
        Index(
            "ix_deal_stage_history_from_pipeline_id_at",
            "from_pipeline_id",
            "at",
            postgresql_include=["from_stage_id", "seconds_in_previous", "deal_id"],
        ),
    )
