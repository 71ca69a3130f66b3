"""crm-worker's jobs: what runs on a timer, each safe to run twice or in two processes at once.

Each job takes the process's pool and the settings and returns a small JSON-ready summary. The Celery
tasks (``crm.app.worker``) and ``crm-worker run <job>`` both call them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any

import asyncpg

from crm.app.config import Settings
from crm.domain.clock import Clock
from crm.domain.payments.overdue import OverduePayments
from crm.domain.permissions.stranded import StrandedPermissionJobs
from crm.domain.tasks.schedule_jobs import TaskScheduleJobs
from crm.infrastructure.db.idempotency import IdempotencyStore
from crm.infrastructure.db.outbox import OutboxWriter
from crm.infrastructure.db.outbox_retention import prune_published_outbox
from crm.infrastructure.db.uow import PgUnitOfWorkFactory

NO_PERMISSIONS_REDIS = "no Redis configured for the permission queue (CRM_PERMISSIONS_REDIS_URL or CRM_REDIS_URL)"

Summary = dict[str, Any]
Job = Callable[[asyncpg.Pool, Settings], Coroutine[Any, Any, Summary]]


def _uow(pool: asyncpg.Pool, settings: Settings) -> PgUnitOfWorkFactory:
    return PgUnitOfWorkFactory(pool, OutboxWriter(settings.events_source))


async def task_reminders(pool: asyncpg.Pool, settings: Settings) -> Summary:
    """Fire due task reminders (one task.reminder event each)."""
    run = await TaskScheduleJobs(_uow(pool, settings), Clock(settings.business_zone)).fire_due_reminders()
    return {"job": "task-reminders", "fired": run.fired, "dropped": run.dropped}


async def scheduled_tasks(pool: asyncpg.Pool, settings: Settings) -> Summary:
    """Make scheduled tasks pending once their scheduled_for has come."""
    started = await TaskScheduleJobs(_uow(pool, settings), Clock(settings.business_zone)).start_due_scheduled_tasks()
    return {"job": "scheduled-tasks", "started": started}


async def overdue_payments(pool: asyncpg.Pool, settings: Settings) -> Summary:
    """Announce payments that became overdue (deal.payment.updated, once per planned date)."""
    announced = await OverduePayments(_uow(pool, settings), Clock(settings.business_zone)).announce()
    return {"job": "overdue-payments", "announced": announced}


async def relay_sweep(pool: asyncpg.Pool, settings: Settings) -> Summary:
    """Publish pending outbox rows once, unless a crm-api relay holds the lead."""
    # Imported here: the relay's wiring is heavier (aio-pika, Redis) than the other jobs need.
    from crm.app.events import sweep_outbox

    return {"job": "relay-sweep", "published": await sweep_outbox(pool, settings)}


async def prune_outbox(pool: asyncpg.Pool, settings: Settings) -> Summary:
    """Delete outbox rows published longer than CRM_OUTBOX_RETENTION ago."""
    return {"job": "prune-outbox", "deleted": await prune_published_outbox(pool, settings.outbox_retention)}


async def prune_idempotency_keys(pool: asyncpg.Pool, settings: Settings) -> Summary:
    """Delete Idempotency-Key records older than CRM_IDEMPOTENCY_KEY_TTL_HOURS."""
    store = IdempotencyStore(pool, timedelta(hours=settings.idempotency_key_ttl_hours))
    return {"job": "prune-idempotency-keys", "deleted": await store.forget_expired()}


async def permission_jobs(pool: asyncpg.Pool, settings: Settings) -> Summary:
    """Enqueue permission sync jobs left pending (crm-api stopped between recording and enqueueing one)."""
    # Imported here: only this job talks to BullMQ.
    from crm.app.permissions import permission_queue

    queue = permission_queue(settings)
    if queue is None:
        return {"job": "permission-jobs", "skipped": NO_PERMISSIONS_REDIS}
    try:
        run = await StrandedPermissionJobs(_uow(pool, settings), queue).requeue()
    finally:
        await queue.close()
    return {
        "job": "permission-jobs",
        "queued": run.queued,
        "superseded": run.superseded,
        "waiting": run.waiting,
        "error": run.error,
    }


JOBS: Mapping[str, Job] = {
    "task-reminders": task_reminders,
    "scheduled-tasks": scheduled_tasks,
    "overdue-payments": overdue_payments,
    "relay-sweep": relay_sweep,
    "prune-outbox": prune_outbox,
    "prune-idempotency-keys": prune_idempotency_keys,
    "permission-jobs": permission_jobs,
}


def describe(job: Job) -> str:
    """The job's one-line description, for ``crm-worker run --help``."""
    return (job.__doc__ or "").strip().splitlines()[0]
