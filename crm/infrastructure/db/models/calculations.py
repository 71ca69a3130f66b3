"""Calculations (quotes) of a deal."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, DATERANGE, UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns, one_of

CALCULATION_STATUSES = ("draft", "ready", "confirmed", "archived")


class CalculationRow(RecordColumns, Base):
    """An insurer's offer (quote) within a deal; a confirmed one may be linked to one policy."""

    __tablename__ = "calculations"

    deal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deals.id", ondelete="RESTRICT"), nullable=False
    )
    insurance_company: Mapped[str] = mapped_column(String(255), nullable=False)
    program_name: Mapped[str | None] = mapped_column(String(255))
    premium_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    coverage_sum: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    calculation_date: Mapped[date] = mapped_column(Date, nullable=False)
    # Stored half-open ([start, end + 1 day)) as PostgreSQL canonicalises dateranges; served inclusive.
    validity_period: Mapped[Any | None] = mapped_column(DATERANGE)
    files: Mapped[list[str]] = mapped_column(
        ARRAY(String(1024)), nullable=False, server_default=text("'{}'::character varying[]")
    )
    comments: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    linked_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("policies.id", ondelete="RESTRICT"), unique=True
    )

    __table_args__ = (
        CheckConstraint(one_of("status", CALCULATION_STATUSES), name="status"),
        CheckConstraint("premium_amount >= 0", name="premium_not_negative"),
        CheckConstraint("coverage_sum >= 0", name="coverage_not_negative"),
        CheckConstraint(
            "linked_policy_id IS NULL OR status = 'confirmed' OR status = 'archived'", name="link_needs_confirmed"
        ),
        CheckConstraint("version > 0", name="version_positive"),
        Index(
            "ix_calculations_deal_list_order", "deal_id", "created_at", "id", postgresql_where=text("NOT is_deleted")
        ),
    )
