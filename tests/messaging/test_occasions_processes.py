"""Occasions fire once with two crm-worker processes running the same job at the same moment."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.factories import add_reminder, make_deal, make_policy, make_task
from tests.messaging.support import make_due
from tests.messaging.test_worker_process import CRM_WORKER, TIMEOUT, worker_env
from tests.outbox import recorded_events
from tests.values import day


async def run_twice_at_once(job: str, database_url: str, tmp_path: Path) -> list[dict[str, Any]]:
    """``crm-worker run <job>`` in two processes started together; their summaries."""
    processes = [
        await asyncio.create_subprocess_exec(
            str(CRM_WORKER),
            "run",
            job,
            env=worker_env(tmp_path, database_url=database_url),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), timeout=TIMEOUT)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    summaries = []
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr.decode()
        summaries.append(json.loads(stdout.decode().splitlines()[-1]))
    return summaries


async def notification_keys(db, event_key: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The deduplication keys of the notifications recorded for ``event_key``: one per occasion, or a repeat."""
    rows = await db.fetch("SELECT deduplication_key FROM crm.notifications WHERE event_key = $1", event_key)
    return sorted(row["deduplication_key"] for row in rows)


async def test_two_worker_processes_renew_each_ending_policy_once(api, db, database_url, tmp_path):
    deal = await make_deal(api)
    policies = [
        await make_policy(api, deal, status="active", effective_from=day(-200), effective_to=day(1 + n % 20))
        for n in range(60)
    ]

    summaries = await run_twice_at_once("policy-renewals", database_url, tmp_path)

    assert sum(s["renewing"] for s in summaries) == len(policies), summaries
    per_policy = await db.fetch("SELECT policy_id, count(*) AS n FROM crm.tasks GROUP BY policy_id")
    assert len(per_policy) == len(policies) and {row["n"] for row in per_policy} == {1}
    assert len(await recorded_events(db, "policy.updated")) == len(policies)
    assert await db.fetchval("SELECT count(*) FROM crm.policies WHERE status = 'pending_renewal'") == len(policies)
    assert await notification_keys(db, "policy.renewal") == sorted(
        f"policy.renewal:{p['id']}:{p['effective_to']}" for p in policies
    )


async def test_two_worker_processes_fire_each_due_reminder_once(api, db, database_url, tmp_path):
    reminders = [await add_reminder(api, await make_task(api, title=f"Call {n}"), channel="sse") for n in range(60)]
    for reminder in reminders:
        await make_due(db, reminder)

    summaries = await run_twice_at_once("task-reminders", database_url, tmp_path)

    assert sum(s["fired"] for s in summaries) == len(reminders), summaries
    fired = [data["reminder_id"] for _, _, data in await recorded_events(db, "task.reminder")]
    assert sorted(fired) == sorted(r["id"] for r in reminders)
    assert await notification_keys(db, "task.reminder") == sorted(f"task.reminder:{r['id']}" for r in reminders)
