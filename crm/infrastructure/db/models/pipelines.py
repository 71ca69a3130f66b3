"""Pipelines and their stages.

A deal names its stage with its pipeline, ``(pipeline_id, stage_id)`` referencing ``(pipeline_id, id)`` here, so
the database itself keeps a deal's stage in its pipeline (and a history row's stages in the pipelines it names).
Stages are removed softly: the history keeps naming them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns, one_of

STAGE_KINDS = ("open", "won", "lost")


class PipelineRow(RecordColumns, Base):
    __tablename__ = "pipelines"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # ["Price too high", ...]: what a deal moved to a lost stage may give as its reason; [] = any text.
    lost_reasons: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    lost_reason_required: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))

    __table_args__ = (
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("jsonb_typeof(lost_reasons) = 'array'", name="lost_reasons_array"),
        Index("uq_pipelines_name", "name", unique=True, postgresql_where=text("NOT is_deleted")),
        # Exactly one live default: at most one by this index, at least one because the default cannot be deleted
        # and stops being the default only when another becomes it (in the same transaction).
        Index(
            "uq_pipelines_is_default", "is_default", unique=True, postgresql_where=text("is_default AND NOT is_deleted")
        ),
        Index("ix_pipelines_list_order", "name", "id", postgresql_where=text("NOT is_deleted")),
    )


class PipelineStageRow(Base):
    __tablename__ = "pipeline_stages"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("pipelines.id", ondelete="RESTRICT"), nullable=False
    )
    # What clients send as a deal's `stage`; never changed (deals and their history name it).
    key: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    probability: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    sla_days: Mapped[int | None] = mapped_column(Integer)
    # Dense 0-based order among the pipeline's live stages, kept by the statements that add, remove and reorder.
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    is_deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(one_of("kind", STAGE_KINDS), name="kind"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability_range"),
        CheckConstraint("sla_days >= 0", name="sla_days_not_negative"),
        CheckConstraint("position >= 0", name="position_not_negative"),
        # What the deals' and the history's (pipeline_id, stage_id) references point at.
        UniqueConstraint("pipeline_id", "id"),
        Index(
            "uq_pipeline_stages_pipeline_id_key",
            "pipeline_id",
            "key",
            unique=True,
            postgresql_where=text("NOT is_deleted"),
        ),
        Index("ix_pipeline_stages_order", "pipeline_id", "position", postgresql_where=text("NOT is_deleted")),
    )
