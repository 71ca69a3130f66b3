"""What happens to tasks as time passes, with nobody asking: reminders fire, scheduled tasks start.

crm-worker runs these on a timer, possibly in several processes at once. Each run locks the rows it
handles with ``SKIP LOCKED`` and marks them in the same transaction as the events it records, so a
reminder fires once and a task starts once however many runs overlap.

A fired reminder also becomes a notification to the task's assignee (``task.reminder``) on the reminder's
channel, handed to ``NotificationIntake`` in the same transaction, with the reminder's id in its deduplication
key. Telegram reaches the assignee through the Telegram id of their contacts; without one, sse does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from crm.domain.caller import SYSTEM
from crm.domain.clock import Clock
from crm.domain.events import DomainEvent
from crm.domain.notifications.intake import NotificationIntake
from crm.domain.notifications.schemas import Channel, NotificationRequest
from crm.domain.occasions.recipients import audience, contacts_of, notification, submit
from crm.domain.tasks.rules import FINAL_STATUSES, ReminderChannel, TaskStatus, transition_refusal
from crm.domain.tasks.schemas import Task, TaskReminder
from crm.domain.tasks.service import status_changed_event
from crm.domain.uow import UnitOfWorkFactory
from crm.domain.users.schemas import UserContacts

BATCH_SIZE = 500


class ReminderNotice(BaseModel):
    """The data of ``task.reminder``: enough to notify the assignee without calling back."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    reminder_id: str
    remind_at: datetime
    channel: ReminderChannel
    assignee_id: str | None
    title: str
    due_at: datetime | None
    deal_id: str | None


@dataclass(frozen=True, slots=True)
class RemindersRun:
    fired: int
    dropped: int  # reminders of tasks closed or deleted before their time: marked sent, no event


def reminder_is_wanted(task: Task) -> bool:
    """A reminder is for work still to do: none for a deleted, completed or cancelled task."""
    return not task.is_deleted and task.status not in FINAL_STATUSES


def reminder_event(reminder: TaskReminder, task: Task, occurred_at: datetime) -> DomainEvent:
    notice = ReminderNotice(
        task_id=str(task.id),
        reminder_id=str(reminder.id),
        remind_at=reminder.remind_at,
        channel=reminder.channel,
        assignee_id=str(task.assignee_id) if task.assignee_id else None,
        title=task.title,
        due_at=task.due_at,
        deal_id=str(task.deal_id) if task.deal_id else None,
    )
    return DomainEvent("task.reminder", task.id, notice.model_dump(mode="json"), occurred_at)


def reminder_notification(
    reminder: TaskReminder, task: Task, contacts: Mapping[UUID, UserContacts]
) -> NotificationRequest:
    """``task.reminder`` for the task's assignee (an unassigned task's reminder goes to the staff)."""
    assignee = task.assignee_id
    to = audience(assignee, contacts.get(assignee) if assignee else None, Channel(reminder.channel.value))
    payload = {
        "task_id": str(task.id),
        "title": task.title,
        "remind_at": reminder.remind_at.isoformat(),
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "deal_id": str(task.deal_id) if task.deal_id else None,
    }
    return notification("task.reminder", to, payload, reminder.id)


class TaskScheduleJobs:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        notifications: NotificationIntake,
        *,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._notifications = notifications
        self._batch_size = batch_size

    async def fire_due_reminders(self) -> RemindersRun:
        """Each due reminder becomes one ``task.reminder`` event, committed with its ``sent_at``.

        A reminder of a task closed (completed, cancelled) or deleted since it was set is marked sent
        without an event: nobody is to be reminded of finished work, and it must not stay due forever.
        """
        due_by = self._clock.now()
        fired = dropped = 0
        while True:
            async with self._uow(SYSTEM) as uow:
                due = await uow.tasks.lock_due_reminders(due_by, self._batch_size)
                if not due:
                    break
                now = self._clock.now()
                wanted = [(reminder, task) for reminder, task in due if reminder_is_wanted(task)]
                for reminder, task in wanted:
                    uow.record(reminder_event(reminder, task, now))
                if wanted:
                    contacts = await contacts_of(uow, (task.assignee_id for _, task in wanted))
                    requests = [reminder_notification(reminder, task, contacts) for reminder, task in wanted]
                    await submit(self._notifications, uow, requests)
                fired += len(wanted)
                dropped += len(due) - len(wanted)
                await uow.tasks.mark_reminders_sent([reminder.id for reminder, _ in due], now)
                await uow.commit()
            if len(due) < self._batch_size:
                break
        return RemindersRun(fired=fired, dropped=dropped)

    async def start_due_scheduled_tasks(self) -> int:
        """Scheduled tasks whose ``scheduled_for`` has come become ``pending``, as if moved through the API
        by nobody: the same transition rule, version bump and ``task.status.changed`` event."""
        due_by = self._clock.now()
        started = 0
        while True:
            async with self._uow(SYSTEM) as uow:
                due = await uow.tasks.lock_due_scheduled(due_by, self._batch_size)
                if not due:
                    break
                moved = 0
                for task in due:
                    if transition_refusal(task.status, TaskStatus.PENDING) is not None:
                        continue
                    # A task has ``scheduled_for`` exactly while it is scheduled.
                    changes = {"status": TaskStatus.PENDING, "scheduled_for": None}
                    updated = await uow.tasks.update(task.id, changes, SYSTEM.actor_id)
                    uow.record(status_changed_event(task.status, updated, SYSTEM.actor_id, self._clock.now()))
                    moved += 1
                await uow.commit()
            started += moved
            # A full batch of refusals would come back unchanged: stop rather than spin.
            if len(due) < self._batch_size or moved == 0:
                break
        return started
