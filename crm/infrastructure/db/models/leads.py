"""Lead intake: operators, sources and each source's operator weights.

Leads, appeals and assignments join these later; the shapes here are what distribution reads under its locks:
an operator row per candidate (``max_load``, presence), and one weight row per (source, operator), so a source's
candidates are one index range.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns, one_of

SOURCE_CHANNELS = ("telegram", "web", "partner", "phone", "email", "other")


class OperatorRow(RecordColumns, Base):
    __tablename__ = "operators"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    max_load: Mapped[int] = mapped_column(Integer, nullable=False)
    # {"mon": [{"from": "09:00", "to": "18:00"}], ...} in the business time zone; NULL = always present.
    working_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # [{"starts_at": "...Z", "ends_at": "...Z"}], in time order, none overlapping (checked on input).
    absences: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))

    __table_args__ = (
        CheckConstraint("max_load >= 0", name="max_load_not_negative"),
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("jsonb_typeof(absences) = 'array'", name="absences_array"),
        # One live operator per user; a deleted one may be replaced.
        Index("uq_operators_user_id", "user_id", unique=True, postgresql_where=text("NOT is_deleted")),
        Index("ix_operators_list_order", "name", "id", postgresql_where=text("NOT is_deleted")),
    )


class SourceRow(RecordColumns, Base):
    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    sticky: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))

    __table_args__ = (
        CheckConstraint(one_of("channel", SOURCE_CHANNELS), name="channel"),
        CheckConstraint("version > 0", name="version_positive"),
        # One live source per name; a deleted one may be replaced.
        Index("uq_sources_name", "name", unique=True, postgresql_where=text("NOT is_deleted")),
        Index("ix_sources_list_order", "name", "id", postgresql_where=text("NOT is_deleted")),
    )


class SourceWeightRow(Base):
    """An operator's share of a source's appeals; replaced as a whole per source."""

    __tablename__ = "source_weights"

    source_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    operator_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    weight: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        CheckConstraint("weight >= 0", name="weight_not_negative"),
        # An operator's weights across sources (what deleting or reporting on an operator reads).
        Index("ix_source_weights_operator_id", "operator_id"),
    )
