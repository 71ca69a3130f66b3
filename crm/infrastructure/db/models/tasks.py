"""Tasks, their seeded statuses and their reminders."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from crm.infrastructure.db.models.base import Base, RecordColumns

TASK_STATUSES = ("pending", "scheduled", "in_progress", "completed", "cancelled")


class TaskStatusRow(Base):
    """Reference list of task statuses, seeded by the migration."""

    __tablename__ = "task_statuses"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    is_final: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class TaskRow(RecordColumns, Base):
    __tablename__ = "tasks"

    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), ForeignKey("task_statuses.code"), nullable=False)
    priority: Mapped[str] = mapped_column(String(8), nullable=False, server_default=text("'normal'"))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    author_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_reason: Mapped[str | None] = mapped_column(Text)
    deal_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("deals.id", ondelete="RESTRICT"))
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("clients.id", ondelete="RESTRICT")
    )
    policy_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("policies.id", ondelete="RESTRICT")
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payments.id", ondelete="RESTRICT")
    )
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        CheckConstraint("priority IN ('low', 'normal', 'high')", name="priority"),
        CheckConstraint("version > 0", name="version_positive"),
        Index(
            "ix_tasks_list_order",
            text("due_at ASC NULLS LAST"),
            "created_at",
            "id",
            postgresql_where=text("NOT is_deleted"),
        ),
        Index("ix_tasks_assignee_id", "assignee_id"),
        Index("ix_tasks_deal_id", "deal_id"),
        Index("ix_tasks_client_id", "client_id"),
        Index("ix_tasks_policy_id", "policy_id"),
        Index("ix_tasks_payment_id", "payment_id"),
        Index("ix_tasks_status_scheduled_for", "status", "scheduled_for"),
    )


class TaskReminderRow(Base):
    __tablename__ = "task_reminders"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False
    )
    remind_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("channel IN ('sse', 'telegram')", name="channel"),
        UniqueConstraint("task_id", "remind_at", "channel", name="uq_task_reminders_task_id_remind_at_channel"),
        Index("ix_task_reminders_due", "remind_at", postgresql_where=text("sent_at IS NULL")),
    )
