"""A real ``crm-worker`` killed (``kill -9``) in the middle of a job: Redis hands the job to a worker again once
the visibility timeout has passed, and the job's effect happens once."""

from __future__ import annotations

import asyncio
import re
import time

import asyncpg
import pytest

from crm.app.config import Settings
from crm.app.worker import create_celery_app, task_name
from tests.factories import add_reminder, make_task
from tests.faults.servers import CrmWorker, OwnRedis, within
from tests.messaging.support import make_due
from tests.outbox import outbox_rows

pytestmark = pytest.mark.faults

VISIBILITY_TIMEOUT = 4  # seconds (CRM_WORKER_VISIBILITY_TIMEOUT); the shortest the setting allows


async def waiting_on_a_lock(db: asyncpg.Connection) -> bool:
    return bool(
        await db.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'crm-worker' AND wait_event_type = 'Lock'"
        )
    )


async def no_worker_session(db: asyncpg.Connection) -> bool:
    return bool(
        await db.fetchval(
            "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'crm-worker'"
        )
    )


async def reminder_fired(db: asyncpg.Connection) -> bool:
    return bool(await outbox_rows(db, routing_key="task.reminder"))


async def test_a_worker_killed_mid_job_gets_the_job_again_and_the_reminder_fires_once(
    api, db, database_url, tmp_path, run_id, report
):
    reminder = await add_reminder(api, await make_task(api), channel="sse")
    await make_due(db, reminder)
    # A Redis of the test's own as the Celery broker: the short visibility timeout must hand out nobody else's
    # unacknowledged messages (kombu keeps them in one hash per Redis database, whatever the queue).
    redis = OwnRedis(tmp_path / "redis")
    queue = f"crm-worker-faults-{run_id}"
    worker_settings = {"database_url": database_url, "worker_visibility_timeout": str(VISIBILITY_TIMEOUT)}
    blocker = await asyncpg.connect(database_url)
    worker: CrmWorker | None = None
    celery_app = None
    try:
        await redis.start()
        worker = CrmWorker(tmp_path / "worker", queue, celery_broker_url=redis.url, **worker_settings)
        first_start = await worker.start()
        celery_app = create_celery_app(
            Settings(  # type: ignore[call-arg]
                _env_file=None, celery_broker_url=redis.url, worker_queue=queue, **worker_settings
            )
        )
        # The job will lock the reminder, mark it sent and then wait to write its event: the test holds the outbox.
        hold = blocker.transaction()
        await hold.start()
        await blocker.execute("LOCK TABLE crm.outbox IN SHARE MODE")
        await asyncio.to_thread(celery_app.send_task, task_name("task-reminders"))
        await within(lambda: waiting_on_a_lock(db), 20, "the job waiting, mid-run, to write its event")
        taken_by = time.monotonic()  # the message was handed out before this
        worker.kill()
        killed_at = time.monotonic()
        await hold.rollback()
        # The killed worker's session ends as soon as PostgreSQL reads its closed socket; its transaction with it.
        await within(lambda: no_worker_session(db), 10, "the killed worker's session gone")
        assert await outbox_rows(db, routing_key="task.reminder") == []
        assert await db.fetchval("SELECT sent_at FROM crm.task_reminders") is None

        # A worker started once the visibility timeout has passed finds the unacknowledged message and runs it.
        await asyncio.sleep(max(0.0, taken_by + VISIBILITY_TIMEOUT + 0.5 - time.monotonic()))
        second_start = await worker.start()
        fired_after = await within(lambda: reminder_fired(db), VISIBILITY_TIMEOUT + 20, "task.reminder fired again")
        redelivered_s = time.monotonic() - killed_at
        await within(
            lambda: asyncio.sleep(0, "succeeded" in worker.process.log.read_text().split("--- start 2 ---")[-1]),
            10,
            "the second run reported",
        )
        fired = await outbox_rows(db, routing_key="task.reminder")
        sent_at = await db.fetchval("SELECT sent_at FROM crm.task_reminders")
        first_log, second_log = worker.process.log.read_text().split("--- start 2 ---")
    finally:
        if worker is not None:
            worker.close()
        if celery_app is not None:
            celery_app.close()
        await blocker.close()
        redis.close()

    received_as = rf"Task {task_name('task-reminders')}\[([0-9a-f-]+)\] received"
    taken = re.findall(received_as, first_log)
    again = re.findall(received_as, second_log)
    report(
        "worker-kill",
        visibility_timeout_s=VISIBILITY_TIMEOUT,
        first_start_s=round(first_start, 2),
        second_start_s=round(second_start, 2),
        fired_within_s_of_second_start=round(fired_after, 2),
        job_again_s_after_kill=round(redelivered_s, 2),
        redelivered_message=again,
        task_reminder_events=len(fired),
    )
    # The very message the killed worker had taken, handed out again (not a new one: the test sent one).
    assert len(taken) == 1 and again == taken, (taken, again)
    assert len(fired) == 1 and str(fired[0]["aggregate_id"]) == reminder["task_id"]
    assert sent_at is not None
