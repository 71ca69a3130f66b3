"""Tasks and their reminders in PostgreSQL, through asyncpg."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.access import Access, Resource
from crm.domain.errors import InvalidCursor
from crm.domain.pagination import Page, decode_cursor, encode_cursor
from crm.domain.tasks.rules import ReminderChannel
from crm.domain.tasks.schemas import Task, TaskFilter, TaskReminder
from crm.infrastructure.db.access import TableAccess, reach
from crm.infrastructure.db.models import TaskReminderRow, TaskRow
from crm.infrastructure.db.policies import GUARD as POLICY_GUARD
from crm.infrastructure.db.records import RecordRepository
from crm.infrastructure.db.sql import Connection, Where, required
from crm.infrastructure.db.tables import TableSql

TASKS = TableSql(TaskRow, fixed={"author_id"})
GUARD = TableAccess(Resource.TASK, "tasks")
JSON_COLUMNS = ("context", "payload")
REMINDERS = TableSql(TaskReminderRow, hidden={"sent_at"})
CURSOR_KIND = "tasks"

SELECT_LIVE_BY_ID = f"{TASKS.select} WHERE id = $1 AND NOT is_deleted"
# ix_task_reminders_due walks the unsent reminders by time. The task is share-locked so its status cannot
# change before the reminder commits; rows (of either table) held elsewhere wait for the next run.
LOCK_DUE_REMINDERS = """
SELECT r.id, r.task_id, r.remind_at, r.channel, r.created_at
FROM crm.task_reminders r JOIN crm.tasks t ON t.id = r.task_id
WHERE r.sent_at IS NULL AND r.remind_at <= $1
ORDER BY r.remind_at
LIMIT $2
FOR UPDATE OF r SKIP LOCKED
FOR SHARE OF t SKIP LOCKED
"""
MARK_REMINDERS_SENT = "UPDATE crm.task_reminders SET sent_at = $2 WHERE id = ANY($1::uuid[])"
# ix_tasks_status_scheduled_for: status, then scheduled_for in order.
LOCK_DUE_SCHEDULED = f"""
{TASKS.select}
WHERE status = 'scheduled' AND scheduled_for <= $1 AND NOT is_deleted
ORDER BY scheduled_for
LIMIT $2
FOR UPDATE SKIP LOCKED
"""
# The list order is ix_tasks_list_order: due_at ASC NULLS LAST, created_at, id. After a cursor in
# the dated part, the rest of the dated part and then every undated task follow; a row comparison
# cannot say that (it is NULL for NULL due_at), so each part is its own index range, merged. Every
# ORDER BY names due_at too, even where it is all NULL: only then does the planner walk the index.
ORDER = "ORDER BY due_at, created_at, id"
AFTER_DATED = f"""
(SELECT {{columns}} FROM crm.tasks WHERE {{where}} AND (due_at, created_at, id) > ({{due}}, {{created}}, {{id}})
 {ORDER} LIMIT {{limit}})
UNION ALL
(SELECT {{columns}} FROM crm.tasks WHERE {{where}} AND due_at IS NULL {ORDER} LIMIT {{limit}})
{ORDER} LIMIT {{limit}}
"""


def _task(row: asyncpg.Record) -> Task:
    values = dict(row)
    for column in JSON_COLUMNS:
        values[column] = json.loads(values[column])
    return Task.model_validate(values)


def _reminder(row: asyncpg.Record) -> TaskReminder:
    return TaskReminder.model_validate(dict(row))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the table keeps them: ``context`` and ``payload`` as JSON text."""
    return {name: _json(value) if name in JSON_COLUMNS else value for name, value in values.items()}


class PgTaskRepository(RecordRepository[Task]):
    def __init__(self, connection: Connection, access: Access) -> None:
        super().__init__(connection, TASKS, _task, access=access, guard=GUARD)

    async def add(self, record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> Task:
        return await super().add(record_id, _stored(values), actor_id)

    async def get_live_for_update(self, task_id: UUID) -> Task | None:
        if not await self.reach(task_id, change=True):
            return None
        row = await self._conn.fetchrow(SELECT_LIVE_BY_ID + " FOR UPDATE", task_id)
        return None if row is None else _task(row)

    async def get_for_share(self, task_id: UUID) -> Task | None:
        if not await self.reach(task_id, change=True):
            return None
        row = await self._conn.fetchrow(SELECT_LIVE_BY_ID + " FOR SHARE", task_id)
        return None if row is None else _task(row)

    async def update(self, record_id: UUID, changes: Mapping[str, Any], actor_id: UUID | None) -> Task:
        return await super().update(record_id, _stored(changes), actor_id)

    async def lock_live_payment(self, payment_id: UUID) -> bool:
        """True if the payment is live and the caller sees its policy."""
        policy_id = await self._conn.fetchval(
            "SELECT policy_id FROM crm.payments WHERE id = $1 AND NOT is_deleted FOR KEY SHARE", payment_id
        )
        return policy_id is not None and await reach(self._conn, POLICY_GUARD, self._access, policy_id, change=False)

    async def add_reminder(
        self, reminder_id: UUID, task_id: UUID, remind_at: datetime, channel: ReminderChannel
    ) -> TaskReminder:
        values = {"id": reminder_id, "task_id": task_id, "remind_at": remind_at, "channel": channel.value}
        statement, params = REMINDERS.insert(values)
        return _reminder(required(await self._conn.fetchrow(statement, *params)))

    async def lock_due_reminders(self, due_by: datetime, limit: int) -> list[tuple[TaskReminder, Task]]:
        reminders = [_reminder(row) for row in await self._conn.fetch(LOCK_DUE_REMINDERS, due_by, limit)]
        if not reminders:
            return []
        task_ids = list({r.task_id for r in reminders})
        rows = await self._conn.fetch(f"{TASKS.select} WHERE id = ANY($1::uuid[])", task_ids)
        tasks = {task.id: task for task in map(_task, rows)}
        return [(reminder, tasks[reminder.task_id]) for reminder in reminders]

    async def mark_reminders_sent(self, reminder_ids: Sequence[UUID], sent_at: datetime) -> None:
        await self._conn.execute(MARK_REMINDERS_SENT, list(reminder_ids), sent_at)

    async def lock_due_scheduled(self, due_by: datetime, limit: int) -> list[Task]:
        return [_task(row) for row in await self._conn.fetch(LOCK_DUE_SCHEDULED, due_by, limit)]


def _filters(query: TaskFilter, access: Access) -> Where:
    where = Where("NOT is_deleted")
    GUARD.sees(access, where)
    if query.assignee_id:
        where.add("assignee_id = {}", query.assignee_id)
    if query.statuses is not None:
        where.add("status = ANY({}::text[])", sorted(s.value for s in query.statuses))
    if query.priorities is not None:
        where.add("priority = ANY({}::text[])", sorted(p.value for p in query.priorities))
    if query.deal_id:
        where.add("deal_id = {}", query.deal_id)
    if query.due_before:
        where.add("due_at < {}", query.due_before)
    if query.due_after:
        where.add("due_at >= {}", query.due_after)
    return where


def _cursor_key(cursor: str) -> tuple[datetime | None, datetime, UUID]:
    """``(due_at, created_at, id)`` of the last task served; ``due_at`` is None past the dated tasks."""
    try:
        due_at, created_at, last_id = decode_cursor(CURSOR_KIND, cursor, (datetime, datetime, UUID))
    except InvalidCursor:
        due_at, created_at, last_id = decode_cursor(CURSOR_KIND, cursor, (type(None), datetime, UUID))
    return due_at, created_at, last_id


class PgTaskReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, task_id: UUID, access: Access) -> Task | None:
        where = Where("NOT is_deleted")
        where.add("id = {}", task_id)
        GUARD.sees(access, where)
        row = await self._pool.fetchrow(f"{TASKS.select} WHERE {where.sql}", *where.params)
        return None if row is None else _task(row)

    async def page(self, query: TaskFilter, access: Access) -> Page[Task]:
        where = _filters(query, access)
        total = None
        if query.page.with_total:
            total = await self._pool.fetchval(f"SELECT count(*) FROM {TASKS.name} WHERE {where.sql}", *where.params)
        if query.page.cursor is None:
            limit = where.param(query.page.limit + 1)
            statement = f"{TASKS.select} WHERE {where.sql} {ORDER} LIMIT {limit}"
        else:
            due_at, created_at, last_id = _cursor_key(query.page.cursor)
            if due_at is None:
                where.add("due_at IS NULL AND (created_at, id) > ({}, {})", created_at, last_id)
                limit = where.param(query.page.limit + 1)
                statement = f"{TASKS.select} WHERE {where.sql} {ORDER} LIMIT {limit}"
            else:
                statement = AFTER_DATED.format(
                    columns=TASKS.columns,
                    where=where.sql,
                    due=where.param(due_at),
                    created=where.param(created_at),
                    id=where.param(last_id),
                    limit=where.param(query.page.limit + 1),
                )
        rows = await self._pool.fetch(statement, *where.params)
        items = [_task(row) for row in rows[: query.page.limit]]
        next_cursor = None
        if len(rows) > query.page.limit:
            last = items[-1]
            next_cursor = encode_cursor(CURSOR_KIND, (last.due_at, last.created_at, last.id))
        return Page[Task](items=items, next_cursor=next_cursor, total=total)
