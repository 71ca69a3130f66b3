"""Keys the service makes for itself and every process must share (the cursor signing key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base


class ServiceKeyRow(Base):
    """One secret per purpose, made once by whichever process needs it first, never changed."""

    __tablename__ = "service_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    __table_args__ = (CheckConstraint("octet_length(key) >= 32", name="key_length"),)
