"""crm-worker's jobs: what runs on a timer, each safe to run twice or in two processes at once.

``JOBS`` is the one registry: a job's name, how often beat sends it and what it does stand together. The
Celery tasks (``crm.app.worker``) and ``crm-worker run <job>`` both run jobs from it; each run returns a small
JSON-ready summary, ``{"job": name, …figures}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from crm.app.config import Settings
from crm.app.wiring import Wiring
from crm.domain.automation.engine import AutomationEngine
from crm.domain.leads.intake import AppealService
from crm.domain.notifications import retention
from crm.domain.notifications.delivery import NotificationDelivery
from crm.domain.occasions.payments import PaymentDueNotices
from crm.domain.occasions.renewals import PolicyRenewals
from crm.domain.payments.overdue import OverduePayments
from crm.domain.permissions.stranded import StrandedPermissionJobs
from crm.domain.tasks.schedule_jobs import TaskScheduleJobs
from crm.infrastructure.db.appeals import PgAppealReader
from crm.infrastructure.db.automation import PgAutomationReader, PgEventFeed
from crm.infrastructure.db.outbox_retention import prune_published_outbox

NO_PERMISSIONS_REDIS = "no Redis configured for the permission queue (CRM_PERMISSIONS_REDIS_URL or CRM_REDIS_URL)"

Summary = dict[str, Any]
Figures = dict[str, Any]


async def task_reminders(app: Wiring) -> Figures:
    """Fire due task reminders (one task.reminder event and notification to the assignee each)."""
    run = await TaskScheduleJobs(app.uow, app.clock, app.notification_intake).fire_due_reminders()
    return {"fired": run.fired, "dropped": run.dropped}


async def scheduled_tasks(app: Wiring) -> Figures:
    """Make scheduled tasks pending once their scheduled_for has come."""
    return {"started": await TaskScheduleJobs(app.uow, app.clock, app.notification_intake).start_due_scheduled_tasks()}


async def overdue_payments(app: Wiring) -> Figures:
    """Announce payments that became overdue (deal.payment.updated and payment.overdue, once per planned date)."""
    return {"announced": await OverduePayments(app.uow, app.clock, app.notification_intake).announce()}


async def payment_due(app: Wiring) -> Figures:
    """Notify owners of unpaid instalments due within CRM_PAYMENT_DUE_NOTICE_DAYS (payment.due, once each)."""
    notices = PaymentDueNotices(
        app.uow, app.clock, app.notification_intake, notice_days=app.settings.payment_due_notice_days
    )
    run = await notices.notify_due()
    return {"noticed": run.noticed, "notified": run.notified}


async def policy_renewals(app: Wiring) -> Figures:
    """Policies ending within CRM_RENEWAL_NOTICE_DAYS to pending_renewal with a renewal task; ended ones expired."""
    renewals = PolicyRenewals(app.uow, app.clock, app.notification_intake, notice_days=app.settings.renewal_notice_days)
    run = await renewals.run()
    return {"renewing": run.renewing, "expired": run.expired, "notified": run.notified}


async def relay_sweep(app: Wiring) -> Figures:
    """Publish pending outbox rows once, unless a crm-api relay holds the lead."""
    # Imported here: the relay's wiring is heavier (aio-pika, Redis) than the other jobs need.
    from crm.app.events import sweep_outbox

    return {"published": await sweep_outbox(app.pool, app.settings)}


async def prune_outbox(app: Wiring) -> Figures:
    """Delete outbox rows published longer than CRM_OUTBOX_RETENTION ago."""
    return {"deleted": await prune_published_outbox(app.pool, app.settings.outbox_retention)}


async def prune_idempotency_keys(app: Wiring) -> Figures:
    """Delete Idempotency-Key records older than CRM_IDEMPOTENCY_KEY_TTL_HOURS."""
    return {"deleted": await app.idempotency.forget_expired()}


async def permission_jobs(app: Wiring) -> Figures:
    """Enqueue permission sync jobs left pending (crm-api stopped between recording and enqueueing one)."""
    # Imported here: only this job talks to BullMQ.
    from crm.app.permissions import permission_queue

    queue = permission_queue(app.settings)
    if queue is None:
        return {"skipped": NO_PERMISSIONS_REDIS}
    try:
        run = await StrandedPermissionJobs(app.uow, queue).requeue()
    finally:
        await queue.close()
    return {"queued": run.queued, "superseded": run.superseded, "waiting": run.waiting, "error": run.error}


# A delivery run drains due deliveries batch after batch for at most this long; the next run goes on from there.
# Shorter than the shortest interval of the other jobs (30 s): a beat message waits in the queue behind running
# delivery runs, and expires after its interval, so a longer run could make the other jobs' runs expire unstarted
# while a backlog lasts.
DELIVERY_BUDGET_SECONDS = 20.0


async def notification_deliveries(app: Wiring) -> Figures:
    """Deliver due notifications (Telegram, the notifications stream): one try each, retried with backoff."""
    # Imported here: only this job talks to Telegram and the Redis stream.
    from crm.app.notifications import delivery_channels, retry_policy

    settings = app.settings
    async with delivery_channels(settings, app.clock) as channels:
        delivery = NotificationDelivery(app.uow, channels, app.clock, retry_policy(settings))
        run = await delivery.deliver(settings.notifications_batch_size, budget=DELIVERY_BUDGET_SECONDS)
    return {
        "claimed": run.claimed,
        "delivered": run.delivered,
        "retrying": run.retrying,
        "failed": run.failed,
        "late": run.late,
    }


async def prune_notifications(app: Wiring) -> Figures:
    """Delete finished (delivered, processed, failed) notifications older than CRM_NOTIFICATIONS_RETENTION."""
    kept = app.settings.notifications_retention
    return {"deleted": await retention.prune(app.uow, app.clock, kept, retention.finished_notifications)}


async def prune_inbound_events(app: Wiring) -> Figures:
    """Forget inbound events journaled longer than CRM_NOTIFICATIONS_INBOUND_RETENTION ago (their ids are new again)."""
    kept = app.settings.notifications_inbound_retention
    return {"deleted": await retention.prune(app.uow, app.clock, kept, retention.inbound_events)}


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every: timedelta  # how often beat sends it; a run not started within that time expires
    work: Callable[[Wiring], Awaitable[Figures]]
    interval: Callable[[Settings], timedelta] | None = None  # set: a setting says how often, instead of ``every``

    def every_for(self, settings: Settings) -> timedelta:
        return self.every if self.interval is None else self.interval(settings)

    @property
    def description(self) -> str:
        """The first line of what the job does, for ``crm-worker run --help``."""
        return (self.work.__doc__ or "").strip().splitlines()[0]

    async def run(self, app: Wiring) -> Summary:
        return {"job": self.name, **await self.work(app)}


class Jobs(Mapping[str, Job]):
    def __init__(self, *jobs: Job) -> None:
        self._jobs = {job.name: job for job in jobs}

    def __getitem__(self, name: str) -> Job:
        return self._jobs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)


async def lead_backlog(app: Wiring) -> Figures:
    """Give operators with room the oldest unassigned appeals they may take (a shift began, an absence ended)."""
    run = await AppealService(app.uow, PgAppealReader(app.pool), app.clock, app.lead_draw).drain_backlog()
    return {"operators": run.operators, "assigned": run.assigned}


# An automation pass works for at most this long; the next run goes on from there. The event pass is sent every
# few seconds (as the delivery runs, a fresh message always follows one that expired), and ends before the next;
# the time pass, as DELIVERY_BUDGET_SECONDS, before the beat message of a job on a longer timer would expire.
AUTOMATION_EVENTS_BUDGET_SECONDS = 4.0
AUTOMATION_TIMERS_BUDGET_SECONDS = 20.0


def automation_engine(app: Wiring) -> AutomationEngine:
    return AutomationEngine(
        app.uow, PgAutomationReader(app.pool, app.clock), PgEventFeed(app.pool), app.clock, app.notification_intake
    )


async def automation_events(app: Wiring) -> Figures:
    """Fire the automation rules triggered by events on the events published since the last run."""
    run = await automation_engine(app).follow_events(budget=AUTOMATION_EVENTS_BUDGET_SECONDS)
    return {"busy": run.busy, "read": run.read, "fired": run.fired, "position": run.position}


async def automation_timers(app: Wiring) -> Figures:
    """Fire the automation rules triggered by time (a deal in a stage, a payment or a task overdue) that are due."""
    run = await automation_engine(app).fire_due(budget=AUTOMATION_TIMERS_BUDGET_SECONDS)
    return {"due": run.due, "fired": run.fired}


PRUNE_EVERY = timedelta(hours=1)
JOBS = Jobs(
    Job("task-reminders", timedelta(seconds=30), task_reminders),
    Job("scheduled-tasks", timedelta(seconds=30), scheduled_tasks),
    Job("overdue-payments", timedelta(minutes=10), overdue_payments),
    Job("payment-due", timedelta(minutes=10), payment_due),
    Job("policy-renewals", timedelta(minutes=10), policy_renewals),
    Job("relay-sweep", timedelta(seconds=30), relay_sweep),
    Job("prune-outbox", PRUNE_EVERY, prune_outbox),
    Job("prune-idempotency-keys", PRUNE_EVERY, prune_idempotency_keys),
    # A stranded permission job is enqueued by the first run after its grace period (crm.domain.permissions.stranded).
    Job("permission-jobs", timedelta(minutes=1), permission_jobs),
    Job(
        "notification-deliveries",
        timedelta(seconds=2),
        notification_deliveries,
        interval=lambda settings: timedelta(seconds=settings.notifications_poll_interval),
    ),
    Job("prune-notifications", PRUNE_EVERY, prune_notifications),
    Job("prune-inbound-events", PRUNE_EVERY, prune_inbound_events),
    # Closing, handing over and operator changes pull at once; this catches what time alone frees.
    Job("lead-backlog", timedelta(seconds=30), lead_backlog),
    Job("automation-events", timedelta(seconds=5), automation_events),
    Job("automation-timers", timedelta(minutes=1), automation_timers),
)


async def run(name: str, app: Wiring) -> Summary:
    """Run one job once, here."""
    return await JOBS[name].run(app)
