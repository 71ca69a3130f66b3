"""Permission sync jobs: what was asked of Auth, and whether it reached the BullMQ queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.domain.permissions.schemas import MAX_USERS, OwnerType, PermissionSyncStatus
from crm.infrastructure.db.models.base import Base, one_of

OWNER_TYPES = tuple(owner.value for owner in OwnerType)
STATUSES = tuple(status.value for status in PermissionSyncStatus)


class PermissionSyncJobRow(Base):
    """One request to replace the access list of a client, deal or policy; its id is the BullMQ job id."""

    __tablename__ = "permission_sync_jobs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    # [{"user_id": ..., "role": ...}], as the API serves it.
    users: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default=text("'pending'"))
    error: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(one_of("owner_type", OWNER_TYPES), name="owner_type"),
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(
            f"CASE WHEN jsonb_typeof(users) = 'array' THEN jsonb_array_length(users) BETWEEN 1 AND {MAX_USERS} "
            "ELSE false END",
            name="users_list",
        ),
        CheckConstraint("(status = 'failed') = (error IS NOT NULL)", name="error_when_failed"),
        CheckConstraint("(status = 'queued') = (queued_at IS NOT NULL)", name="queued_at_when_queued"),
        Index("ix_permission_sync_jobs_owner", "owner_type", "owner_id", "created_at"),
        # crm-worker's permission-jobs run looks for jobs left pending.
        Index("ix_permission_sync_jobs_pending", "created_at", postgresql_where=text("status = 'pending'")),
    )
