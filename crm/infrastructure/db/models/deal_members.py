"""The people on a deal's team besides its owner."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base


class DealMemberRow(Base):
    """One person on one deal's team, as an executor or a co-owner; removing them deletes the row."""

    __tablename__ = "deal_members"

    deal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        CheckConstraint("role IN ('executor', 'co_owner')", name="role"),
        # The access rules look up the deals a user is on.
        Index("ix_deal_members_user_id", "user_id", "deal_id"),
    )
