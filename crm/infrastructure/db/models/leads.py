"""Lead intake: operators, sources, each source's operator weights, leads, their appeals and the assignment log.

Distribution reads a source's candidates as one index range of ``source_weights`` joined to their operator rows
(``max_load``, ``load``, presence), and takes a slot by a conditional ``UPDATE`` of the chosen operator's row: the
row lock it holds until commit is the only lock an assignment takes, so sources never wait on each other.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns, one_of

SOURCE_CHANNELS = ("telegram", "web", "partner", "phone", "email", "other")
APPEAL_STATUSES = ("open", "closed")
ASSIGNMENT_REASONS = ("weighted", "sticky", "backlog", "manual", "unassigned")


class OperatorRow(RecordColumns, Base):
    __tablename__ = "operators"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    max_load: Mapped[int] = mapped_column(Integer, nullable=False)
    # Open appeals assigned to the operator: kept by distribution, closing and reassigning only (never by a
    # PATCH), under the row lock that also checks it against max_load.
    load: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    # {"mon": [{"from": "09:00", "to": "18:00"}], ...} in the business time zone; NULL = always present.
    working_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # [{"starts_at": "...Z", "ends_at": "...Z"}], in time order, none overlapping (checked on input).
    absences: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))

    __table_args__ = (
        CheckConstraint("max_load >= 0", name="max_load_not_negative"),
        CheckConstraint("load >= 0", name="load_not_negative"),
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


class LeadRow(RecordColumns, Base):
    """A person who contacts the broker, one per ``external_id`` across all sources."""

    __tablename__ = "leads"

    external_id: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    # The client the lead became (conversion), or was found to be.
    client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("clients.id"))

    __table_args__ = (
        CheckConstraint("version > 0", name="version_positive"),
        # One live lead per external id: two first contacts at once make one lead (the second waits on this).
        Index("uq_leads_external_id", "external_id", unique=True, postgresql_where=text("NOT is_deleted")),
        Index("ix_leads_list_order", "created_at", "id", postgresql_where=text("NOT is_deleted")),
        Index("ix_leads_client_id", "client_id"),
    )


class AppealRow(RecordColumns, Base):
    """One contact of a lead through a source, with the operator it was given to (none while unassigned)."""

    __tablename__ = "appeals"

    lead_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("leads.id"), nullable=False)
    source_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("sources.id"), nullable=False)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("operators.id"))
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'open'"))
    message: Mapped[str | None] = mapped_column(Text)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first close, conversion or reassignment after the appeal came in: what "time to first action" measures.
    first_action_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    resolution: Mapped[str | None] = mapped_column(Text)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("deals.id"))

    __table_args__ = (
        CheckConstraint(one_of("status", APPEAL_STATUSES), name="status"),
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_when_closed"),
        CheckConstraint("(operator_id IS NULL) = (assigned_at IS NULL)", name="assigned_at_with_operator"),
        # The unassigned queue, oldest first: what freed capacity pulls.
        Index(
            "ix_appeals_unassigned",
            "created_at",
            "id",
            postgresql_where=text("status = 'open' AND operator_id IS NULL"),
        ),
        # A lead's open appeal on a source: where a sticky repeat contact goes.
        Index("ix_appeals_lead_id_source_id", "lead_id", "source_id", postgresql_where=text("status = 'open'")),
        # Lists newest first, and the statistics of a period (a range of created_at).
        Index("ix_appeals_list_order", "created_at", "id"),
        Index("ix_appeals_operator_id", "operator_id", "created_at", "id"),
        Index("ix_appeals_source_id", "source_id", "created_at", "id"),
        Index("ix_appeals_deal_id", "deal_id", postgresql_where=text("deal_id IS NOT NULL")),
    )


class AppealAssignmentRow(Base):
    """Why an appeal went where it went: one row per decision, with the candidates as they stood."""

    __tablename__ = "appeal_assignments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appeal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("appeals.id", ondelete="CASCADE"), nullable=False
    )
    operator_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    previous_operator_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    # [{"operator_id", "weight", "load", "max_load", "excluded"}] at the moment of the decision.
    candidates: Mapped[list[Any]] = mapped_column(JSONB, nullable=False)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        CheckConstraint(one_of("reason", ASSIGNMENT_REASONS), name="reason"),
        Index("ix_appeal_assignments_appeal_id", "appeal_id", "id"),
    )
