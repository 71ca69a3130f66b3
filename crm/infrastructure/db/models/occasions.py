"""Occasions crm-worker has fired: one row per occasion, so each fires once however many workers run."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, one_of

OCCASIONS = ("payment.due", "policy.renewal")


class OccasionRow(Base):
    """``(occasion, subject_id, occasion_date)``: a payment due on a planned date, a policy ending on a day. The
    primary key is the claim: a second worker's insert of the same occasion finds it and does nothing."""

    __tablename__ = "occasions"

    occasion: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    occasion_date: Mapped[date] = mapped_column(Date, primary_key=True)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (CheckConstraint(one_of("occasion", OCCASIONS), name="occasion"),)
