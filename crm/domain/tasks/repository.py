"""What the tasks module needs from storage, and from the payments it may point at."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.pagination import Page
from crm.domain.records import RecordRepository
from crm.domain.tasks.rules import ReminderChannel
from crm.domain.tasks.schemas import Task, TaskFilter, TaskReminder


class TaskRepository(RecordRepository[Task], Protocol):
    """Writes inside a unit of work; rows read or locked here stay so until the transaction ends."""

    async def get_live_for_update(self, task_id: UUID) -> Task | None:
        """The live task, locked against concurrent changes."""

    async def get_for_share(self, task_id: UUID) -> Task | None:
        """The live task; its status cannot change until the transaction ends."""

    async def lock_live_payment(self, payment_id: UUID) -> bool:
        """True if the payment exists and is not deleted; it stays so until the transaction ends."""

    async def add_reminder(
        self, reminder_id: UUID, task_id: UUID, remind_at: datetime, channel: ReminderChannel
    ) -> TaskReminder:
        """Raises ``TaskReminderConflict`` (through the unit of work) for a duplicate (task, time, channel)."""

    async def lock_due_reminders(self, due_by: datetime, limit: int) -> list[tuple[TaskReminder, Task]]:
        """Unsent reminders with ``remind_at <= due_by``, earliest first, each with its task (deleted ones
        too). Rows another transaction holds are skipped, not waited for: concurrent runs share the work."""

    async def mark_reminders_sent(self, reminder_ids: Sequence[UUID], sent_at: datetime) -> None: ...

    async def lock_due_scheduled(self, due_by: datetime, limit: int) -> list[Task]:
        """Live ``scheduled`` tasks with ``scheduled_for <= due_by``, earliest first; locked ones are skipped."""


class TaskReader(Protocol):
    async def get(self, task_id: UUID, access: Access) -> Task | None: ...

    async def page(self, query: TaskFilter, access: Access) -> Page[Task]:
        """Ordered by ``due_at`` (tasks without one last), then ``created_at``, then ``id``."""
