"""Task lifecycle: statuses, priorities, reminder channels, and which status moves are allowed."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TaskPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class ReminderChannel(StrEnum):
    SSE = "sse"
    TELEGRAM = "telegram"


FINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED})

# The old service's moves. A scheduled task cannot be completed straight away: it is picked up first.
TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset(
        {TaskStatus.IN_PROGRESS, TaskStatus.SCHEDULED, TaskStatus.COMPLETED, TaskStatus.CANCELLED}
    ),
    TaskStatus.SCHEDULED: frozenset({TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.PENDING, TaskStatus.COMPLETED, TaskStatus.CANCELLED}),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


def transition_refusal(current: TaskStatus, target: TaskStatus) -> str | None:
    """Why ``current → target`` is not allowed, or ``None`` if it is (staying put is always allowed)."""
    if current == target:
        return None
    if current in FINAL_STATUSES:
        return f"a {current} task is final"
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        return f"a {current} task can become {allowed}, not {target}"
    return None


def initial_status(has_schedule: bool) -> TaskStatus:
    """A new task waits for its ``scheduled_for`` when it has one; otherwise it is ready to be worked on."""
    return TaskStatus.SCHEDULED if has_schedule else TaskStatus.PENDING
