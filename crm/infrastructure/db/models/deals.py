"""Deals."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns


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

    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'qualification', 'in_progress', 'proposal', 'won', 'lost')", name="status"
        ),
        CheckConstraint("version > 0", name="version_positive"),
        Index("ix_deals_client_id", "client_id"),
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
