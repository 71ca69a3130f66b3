"""The journal of inbound events (CloudEvents received over RabbitMQ or HTTP), one row per CloudEvent ``id``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, one_of

TRANSPORTS = ("amqp", "http")


class InboundEventRow(Base):
    """The primary key on ``id`` is the deduplication: a second insert of an id does nothing (ON CONFLICT)."""

    __tablename__ = "inbound_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str] = mapped_column(String(1024), nullable=False)
    type: Mapped[str] = mapped_column(String(255), nullable=False)
    time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    subject: Mapped[str | None] = mapped_column(String(1024))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    transport: Mapped[str] = mapped_column(Text, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (
        CheckConstraint(one_of("transport", TRANSPORTS), name="transport"),
        Index("ix_inbound_events_received_at", "received_at"),  # pruning, oldest first
    )
