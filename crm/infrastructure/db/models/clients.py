"""Clients."""

from __future__ import annotations

import uuid

from sqlalchemy import (
    CheckConstraint,
    Index,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns


class ClientRow(RecordColumns, Base):
    __tablename__ = "clients"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))

    __table_args__ = (
        CheckConstraint("status IN ('active', 'inactive', 'prospect')", name="status"),
        CheckConstraint("version > 0", name="version_positive"),
        # Default list order: newest first, live rows only.
        Index("ix_clients_list_order", "created_at", "id", postgresql_where=text("NOT is_deleted")),
        Index("ix_clients_owner_id", "owner_id"),
    )
