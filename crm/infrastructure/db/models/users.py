"""What the CRM keeps of a user (users themselves live in Auth): how to reach them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Integer, String, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, one_of

CHANNELS = ("sse", "telegram")


class UserContactRow(Base):
    __tablename__ = "user_contacts"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    telegram_id: Mapped[str | None] = mapped_column(String(64))
    preferred_channel: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'sse'"))
    locale: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        CheckConstraint(one_of("preferred_channel", CHANNELS), name="preferred_channel"),
        # Telegram is only preferred by someone Telegram can reach.
        CheckConstraint("preferred_channel <> 'telegram' OR telegram_id IS NOT NULL", name="telegram_reachable"),
        CheckConstraint("version > 0", name="version_positive"),
    )
