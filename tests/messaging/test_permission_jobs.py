"""crm-worker's permission-jobs against real PostgreSQL and Redis: sync jobs a crash left pending reach BullMQ."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest

from crm.app.jobs import NO_PERMISSIONS_REDIS
from crm.app.wiring import Wiring
from crm.domain.permissions.stranded import GRACE_PERIOD, StrandedPermissionJobs
from crm.infrastructure.permissions_queue import BullMqPermissionQueue
from tests.bullmq_queues import CLOSED_PORT_URL, PREFIX, bullmq_queue_of
from tests.messaging.support import run_job

STRANDED = GRACE_PERIOD + timedelta(minutes=1)


@pytest.fixture(scope="module")
def permissions_queue_name(run_id):
    return f"permissions-sync-worker-{run_id}"


@pytest.fixture(scope="module")
async def bullmq_queue(cache_url, permissions_queue_name):
    """The queue as the Auth side sees it; every key of this run's queue is deleted at the end."""
    async with bullmq_queue_of(cache_url, permissions_queue_name, PREFIX) as queue:
        yield queue


@pytest.fixture
def permission_settings(settings, cache_url, permissions_queue_name, bullmq_queue):
    return settings.model_copy(
        update={
            "redis_url": None,
            "permissions_redis_url": cache_url,
            "permissions_queue_name": permissions_queue_name,
            "permissions_queue_prefix": PREFIX,
        }
    )


async def add_permission_job(db, *, age, status="pending", owner_id=None):
    """A sync job as crm-api records it, ``age`` old; ``pending`` is what a crash after the commit leaves."""
    job_id, user_id = uuid.uuid4(), uuid.uuid4()
    owner_id = owner_id or uuid.uuid4()
    await db.execute(
        """
INSERT INTO crm.permission_sync_jobs (id, owner_type, owner_id, users, status, error, queued_at, created_at, updated_at)
VALUES ($1, 'deal', $2, $3::jsonb, $4::text, CASE WHEN $4::text = 'failed' THEN 'refused' END,
        CASE WHEN $4::text = 'queued' THEN now() END, now() - $5::interval, now() - $5::interval)
""",
        job_id,
        owner_id,
        json.dumps([{"user_id": str(user_id), "role": "editor"}]),
        status,
        age,
    )
    return {"job_id": str(job_id), "owner_id": str(owner_id), "user_id": str(user_id)}


async def permission_job_states(db):
    rows = await db.fetch("SELECT id, status, error, queued_at FROM crm.permission_sync_jobs")
    return {str(r["id"]): (r["status"], r["error"], r["queued_at"] is not None) for r in rows}


async def test_a_stranded_permission_job_is_enqueued_and_marked_queued(db, pool, permission_settings, bullmq_queue):
    stranded = await add_permission_job(db, age=STRANDED)

    summary = await run_job("permission-jobs", pool, permission_settings)

    assert summary == {"job": "permission-jobs", "queued": 1, "superseded": 0, "waiting": 0, "error": None}
    job = await bullmq_queue.getJob(stranded["job_id"])
    assert job is not None
    assert job.name == permission_settings.permissions_job_name
    assert job.data == {
        "ownerType": "deal",
        "ownerId": stranded["owner_id"],
        "users": [{"userId": stranded["user_id"], "role": "editor"}],
    }
    assert (job.opts["attempts"], job.opts["backoff"]) == (5, {"type": "exponential", "delay": 1000})
    assert await permission_job_states(db) == {stranded["job_id"]: ("queued", None, True)}
    assert await run_job("permission-jobs", pool, permission_settings) == {
        "job": "permission-jobs",
        "queued": 0,
        "superseded": 0,
        "waiting": 0,
        "error": None,
    }


async def test_a_pending_job_younger_than_the_grace_period_is_left_to_its_request(
    db, pool, permission_settings, bullmq_queue
):
    fresh = await add_permission_job(db, age=GRACE_PERIOD - timedelta(seconds=10))

    summary = await run_job("permission-jobs", pool, permission_settings)

    assert (summary["queued"], summary["waiting"]) == (0, 0)
    assert await bullmq_queue.getJob(fresh["job_id"]) is None
    assert await permission_job_states(db) == {fresh["job_id"]: ("pending", None, False)}


async def test_a_stranded_job_with_a_newer_sync_of_its_owner_is_superseded_not_enqueued(
    db, pool, permission_settings, bullmq_queue
):
    owner = uuid.uuid4()
    older = await add_permission_job(db, age=STRANDED + timedelta(minutes=5), owner_id=owner)
    newer = await add_permission_job(db, age=STRANDED, status="queued", owner_id=owner)

    summary = await run_job("permission-jobs", pool, permission_settings)

    assert (summary["queued"], summary["superseded"]) == (0, 1)
    assert await bullmq_queue.getJob(older["job_id"]) is None
    states = await permission_job_states(db)
    assert states[older["job_id"]] == ("failed", f"superseded by the newer sync job {newer['job_id']}", False)


async def test_failed_and_queued_jobs_are_left_alone(db, pool, permission_settings, bullmq_queue):
    failed = await add_permission_job(db, age=STRANDED, status="failed")
    queued = await add_permission_job(db, age=STRANDED, status="queued")

    summary = await run_job("permission-jobs", pool, permission_settings)

    assert (summary["queued"], summary["waiting"]) == (0, 0)
    assert await bullmq_queue.getJob(failed["job_id"]) is None
    assert await bullmq_queue.getJob(queued["job_id"]) is None
    assert await permission_job_states(db) == {
        failed["job_id"]: ("failed", "refused", False),
        queued["job_id"]: ("queued", None, True),
    }


async def test_with_redis_unreachable_stranded_jobs_stay_pending_and_the_error_is_reported(
    db, pool, permission_settings
):
    stranded = [await add_permission_job(db, age=STRANDED) for _ in range(2)]
    unreachable = permission_settings.model_copy(update={"permissions_redis_url": CLOSED_PORT_URL})

    summary = await run_job("permission-jobs", pool, unreachable)

    assert {key: summary[key] for key in ("job", "queued", "waiting")} == {
        "job": "permission-jobs",
        "queued": 0,
        "waiting": 2,
    }
    assert summary["error"].startswith("ConnectionError")
    assert await permission_job_states(db) == {job["job_id"]: ("pending", None, False) for job in stranded}


async def test_stranded_jobs_are_enqueued_once_when_two_runs_race(db, pool, permission_settings, bullmq_queue):
    stranded = [await add_permission_job(db, age=STRANDED) for _ in range(5)]

    runs = await asyncio.gather(
        run_job("permission-jobs", pool, permission_settings), run_job("permission-jobs", pool, permission_settings)
    )

    assert sum(run["queued"] for run in runs) == 5
    assert [(run["waiting"], run["error"]) for run in runs] == [(0, None), (0, None)]
    waiting = [job.id for job in await bullmq_queue.getJobs(["waiting"])]
    assert all(waiting.count(job["job_id"]) == 1 for job in stranded)
    assert await permission_job_states(db) == {job["job_id"]: ("queued", None, True) for job in stranded}


async def test_stranded_jobs_are_enqueued_oldest_first_batch_after_batch(db, pool, permission_settings, bullmq_queue):
    minutes_older = (1, 4, 2, 5, 3)
    ages = {(await add_permission_job(db, age=STRANDED + timedelta(minutes=m)))["job_id"]: m for m in minutes_older}
    oldest_first = sorted(ages, key=lambda job_id: -ages[job_id])
    queue = BullMqPermissionQueue(
        permission_settings.permissions_redis,
        prefix=PREFIX,
        queue_name=permission_settings.permissions_queue_name,
        job_name=permission_settings.permissions_job_name,
        timeout=2,
    )
    uow = Wiring.of(pool, permission_settings).uow
    try:
        run = await StrandedPermissionJobs(uow, queue, batch_size=2).requeue()
    finally:
        await queue.close()

    assert (run.queued, run.waiting, run.error) == (5, 0, None)
    added = [job.id for job in await bullmq_queue.getJobs(["waiting"], 0, -1, True)]
    assert [job_id for job_id in added if job_id in ages] == oldest_first


async def test_without_redis_for_permissions_the_job_does_nothing_and_says_so(db, pool, settings):
    stranded = await add_permission_job(db, age=STRANDED)
    unconfigured = settings.model_copy(update={"redis_url": None, "permissions_redis_url": None})

    summary = await run_job("permission-jobs", pool, unconfigured)

    assert summary == {"job": "permission-jobs", "skipped": NO_PERMISSIONS_REDIS}
    assert await permission_job_states(db) == {stranded["job_id"]: ("pending", None, False)}
