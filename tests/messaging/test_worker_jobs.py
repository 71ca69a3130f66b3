"""crm-worker's jobs against real PostgreSQL: reminders, scheduled tasks, overdue payments, retention, relay sweep."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, timedelta

from crm.infrastructure.db.outbox import ADVANCE_CURSOR, RELAY_CURSOR, TRANSACTION_BASE
from crm.infrastructure.db.outbox_retention import prune_published_outbox
from crm.infrastructure.events.relay import LEAD_LOCK
from tests.factories import (
    TASKS,
    add_reminder,
    make_deal,
    make_payment,
    make_policy,
    make_task,
    payments_url,
    post_line,
)
from tests.messaging.support import consumer, eventually, make_due, run_job
from tests.outbox import all_settled, outbox_rows, recorded_events, unpublished_count
from tests.values import ASSIGNEE, at, day

# --- task-reminders -----------------------------------------------------------------------------------


async def test_a_due_reminder_fires_once_even_when_two_runs_race(api, db, pool, settings):
    deal = await make_deal(api)
    task = await make_task(api, assignee_id=ASSIGNEE, due_at=at(24), deal_id=deal["id"])
    reminder = await add_reminder(api, task)
    remind_at = await make_due(db, reminder)

    runs = await asyncio.gather(run_job("task-reminders", pool, settings), run_job("task-reminders", pool, settings))

    assert sorted(run["fired"] for run in runs) == [0, 1]
    assert await recorded_events(db, "task.reminder") == [
        (
            "task",
            task["id"],
            {
                "task_id": task["id"],
                "reminder_id": reminder["id"],
                "remind_at": remind_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "channel": "telegram",
                "assignee_id": ASSIGNEE,
                "title": task["title"],
                "due_at": task["due_at"],
                "deal_id": deal["id"],
            },
        )
    ]
    assert await run_job("task-reminders", pool, settings) == {"job": "task-reminders", "fired": 0, "dropped": 0}
    assert len(await recorded_events(db, "task.reminder")) == 1


async def test_many_due_reminders_each_fire_once_across_concurrent_runs(api, db, pool, settings):
    tasks = [await make_task(api, title=f"Call {n}") for n in range(12)]
    for task in tasks:
        await make_due(db, await add_reminder(api, task, channel="sse"))

    runs = await asyncio.gather(*(run_job("task-reminders", pool, settings) for _ in range(4)))

    assert sum(run["fired"] for run in runs) == 12
    fired = [data["task_id"] for _, _, data in await recorded_events(db, "task.reminder")]
    assert sorted(fired) == sorted(task["id"] for task in tasks)


async def test_a_reminder_in_the_future_does_not_fire(api, db, pool, settings):
    task = await make_task(api)
    await add_reminder(api, task)

    assert await run_job("task-reminders", pool, settings) == {"job": "task-reminders", "fired": 0, "dropped": 0}
    assert await recorded_events(db, "task.reminder") == []
    assert await db.fetchval("SELECT sent_at FROM crm.task_reminders") is None


async def test_a_reminder_of_a_closed_task_is_dropped_without_an_event(api, db, pool, settings):
    done = await make_task(api)
    cancelled = await make_task(api)
    due = [await add_reminder(api, done), await add_reminder(api, cancelled)]
    assert (await api.post(f"{TASKS}/{done['id']}/complete")).status_code == 200
    response = await api.patch(f"{TASKS}/{cancelled['id']}", json={"status": "cancelled", "cancelled_reason": "x"})
    assert response.status_code == 200
    for reminder in due:
        await make_due(db, reminder)

    assert await run_job("task-reminders", pool, settings) == {"job": "task-reminders", "fired": 0, "dropped": 2}
    assert await recorded_events(db, "task.reminder") == []
    assert await db.fetchval("SELECT count(*) FROM crm.task_reminders WHERE sent_at IS NULL") == 0


# --- scheduled-tasks ----------------------------------------------------------------------------------


async def test_a_scheduled_task_becomes_pending_at_its_time_with_its_event(api, db, pool, settings):
    task = await make_task(api, scheduled_for=at(1))

    assert await run_job("scheduled-tasks", pool, settings) == {"job": "scheduled-tasks", "started": 0}
    assert (await api.get(f"{TASKS}/{task['id']}")).json()["status"] == "scheduled"
    assert await recorded_events(db, "task.status.changed") == []

    await db.execute(
        "UPDATE crm.tasks SET scheduled_for = now() - interval '1 second' WHERE id = $1", uuid.UUID(task["id"])
    )
    assert await run_job("scheduled-tasks", pool, settings) == {"job": "scheduled-tasks", "started": 1}

    response = await api.get(f"{TASKS}/{task['id']}")
    started = response.json()
    assert (started["status"], started["scheduled_for"], started["version"]) == ("pending", None, 2)
    assert response.headers["etag"] == '"2"'
    assert started["updated_at"] > task["updated_at"]
    assert await recorded_events(db, "task.status.changed") == [
        (
            "task",
            task["id"],
            {
                "task_id": task["id"],
                "old_status": "scheduled",
                "new_status": "pending",
                "actor_id": None,
                "task": started,
            },
        )
    ]
    assert await run_job("scheduled-tasks", pool, settings) == {"job": "scheduled-tasks", "started": 0}
    assert len(await recorded_events(db, "task.status.changed")) == 1


async def test_a_scheduled_task_starts_once_when_two_runs_race(api, db, pool, settings):
    task = await make_task(api, scheduled_for=at(1))
    await db.execute("UPDATE crm.tasks SET scheduled_for = now() - interval '1 second'")

    runs = await asyncio.gather(run_job("scheduled-tasks", pool, settings), run_job("scheduled-tasks", pool, settings))

    assert sorted(run["started"] for run in runs) == [0, 1]
    assert (await api.get(f"{TASKS}/{task['id']}")).json()["version"] == 2
    assert len(await recorded_events(db, "task.status.changed")) == 1


async def test_a_deleted_scheduled_task_is_left_alone(api, db, pool, settings):
    await make_task(api, scheduled_for=at(1))
    await db.execute("UPDATE crm.tasks SET scheduled_for = now() - interval '1 second', is_deleted = true")

    assert await run_job("scheduled-tasks", pool, settings) == {"job": "scheduled-tasks", "started": 0}
    assert await db.fetchval("SELECT status FROM crm.tasks") == "scheduled"


# --- overdue-payments ---------------------------------------------------------------------------------


def announcements(updates):
    """The worker's deal.payment.updated events: the API's have no ``previous``."""
    return [data for _, _, data in updates if "previous" in data]


def as_announced(payment):
    return {key: value for key, value in payment.items() if key not in ("incomes", "expenses")}


async def test_an_overdue_payment_is_announced_once_per_planned_date(api, db, pool, settings):
    policy = await make_policy(api)
    payment = await make_payment(api, policy, planned_date=day(-3))
    url = payments_url(policy, payment["id"])

    assert await run_job("overdue-payments", pool, settings) == {"job": "overdue-payments", "announced": 1}

    seen = (await api.get(url)).json()
    assert (seen["status"], seen["version"]) == ("overdue", payment["version"])  # nothing stored changed
    updates = await recorded_events(db, "deal.payment.updated")
    assert updates == [
        (
            "deal",
            policy["deal_id"],
            {
                "deal_id": policy["deal_id"],
                "policy_id": policy["id"],
                "payment": as_announced(seen),
                "previous": {"status": "scheduled"},
            },
        )
    ]
    assert await run_job("overdue-payments", pool, settings) == {"job": "overdue-payments", "announced": 0}

    assert (await api.patch(url, json={"planned_date": day(-2)})).status_code == 200
    assert await run_job("overdue-payments", pool, settings) == {"job": "overdue-payments", "announced": 1}
    assert await run_job("overdue-payments", pool, settings) == {"job": "overdue-payments", "announced": 0}
    announced = announcements(await recorded_events(db, "deal.payment.updated"))
    assert [data["payment"]["planned_date"] for data in announced] == [day(-3), day(-2)]


async def test_an_overdue_payment_is_announced_once_when_two_runs_race(api, db, pool, settings):
    policy = await make_policy(api)
    for days in (1, 2, 3):
        await make_payment(api, policy, planned_date=day(-days))

    runs = await asyncio.gather(*(run_job("overdue-payments", pool, settings) for _ in range(3)))

    assert sum(run["announced"] for run in runs) == 3
    assert len(announcements(await recorded_events(db, "deal.payment.updated"))) == 3


async def test_paid_cancelled_deleted_and_future_payments_are_not_announced(api, db, pool, settings):
    policy = await make_policy(api)
    paid = await make_payment(api, policy, planned_date=day(-5))
    await post_line(api, policy, paid, "incomes", "1000.00")
    partly = await make_payment(api, policy, planned_date=day(-5))
    await post_line(api, policy, partly, "incomes", "10.00")
    cancelled = await make_payment(api, policy, planned_date=day(-5))
    assert (await api.post(payments_url(policy, cancelled["id"], "cancel"))).status_code == 200
    deleted = await make_payment(api, policy, planned_date=day(-5))
    assert (await api.delete(payments_url(policy, deleted["id"]))).status_code == 204
    await make_payment(api, policy, planned_date=day(0))
    await make_payment(api, policy)  # in 30 days

    assert await run_job("overdue-payments", pool, settings) == {"job": "overdue-payments", "announced": 0}
    assert announcements(await recorded_events(db, "deal.payment.updated")) == []


async def test_a_payment_of_a_deleted_policy_is_not_announced(api, db, pool, settings):
    policy = await make_policy(api)
    await make_payment(api, policy, planned_date=day(-5))
    await db.execute("UPDATE crm.policies SET is_deleted = true")

    assert await run_job("overdue-payments", pool, settings) == {"job": "overdue-payments", "announced": 0}


# --- prune-outbox, prune-idempotency-keys -------------------------------------------------------------


async def add_outbox_row(db, *, age: timedelta) -> int:
    """A row written ``age`` ago in a transaction of its own; returns its sequence."""
    return await db.fetchval(
        f"""
INSERT INTO crm.outbox (sequence, event_id, aggregate_type, aggregate_id, routing_key, payload, created_at)
VALUES ({TRANSACTION_BASE}, $1, 'deal', $2, 'deal.updated', '{{}}'::jsonb, now() - $3::interval)
RETURNING sequence
""",
        uuid.uuid4(),
        uuid.uuid4(),
        age,
    )


async def publish_up_to(db, sequence: int) -> None:
    """Moves the relay's cursor as publishing up to ``sequence`` would."""
    await db.execute(ADVANCE_CURSOR, RELAY_CURSOR, sequence)


async def test_prune_outbox_removes_only_published_rows_older_than_the_retention(db, pool, settings):
    settings = settings.model_copy(update={"outbox_retention": timedelta(days=7)})
    old_published = await add_outbox_row(db, age=timedelta(days=8))
    recent_published = await add_outbox_row(db, age=timedelta(days=6))
    await publish_up_to(db, recent_published)
    old_unpublished = await add_outbox_row(db, age=timedelta(days=30))

    assert await run_job("prune-outbox", pool, settings) == {"job": "prune-outbox", "deleted": 1}

    left = {row["sequence"] for row in await outbox_rows(db)}
    assert left == {old_unpublished, recent_published}
    assert old_published not in left
    assert await run_job("prune-outbox", pool, settings) == {"job": "prune-outbox", "deleted": 0}


async def test_prune_outbox_goes_batch_after_batch_until_none_are_left(db, pool):
    for _ in range(7):
        published = await add_outbox_row(db, age=timedelta(days=10))
    await publish_up_to(db, published)
    await add_outbox_row(db, age=timedelta(days=10))

    assert await prune_published_outbox(pool, timedelta(days=1), batch_size=3) == 7
    assert len(await outbox_rows(db)) == 1


async def test_prune_idempotency_keys_forgets_keys_past_their_ttl(db, pool, settings):
    settings = settings.model_copy(update={"idempotency_key_ttl_hours": 24})
    await db.execute(
        "INSERT INTO crm.idempotency_keys (scope, key, request_hash, created_at) VALUES "
        "('POST /api/v1/tasks', 'old', 'h', now() - interval '25 hours'), "
        "('POST /api/v1/tasks', 'new', 'h', now() - interval '23 hours')"
    )

    assert await run_job("prune-idempotency-keys", pool, settings) == {"job": "prune-idempotency-keys", "deleted": 1}
    assert await db.fetchval("SELECT string_agg(key, ',') FROM crm.idempotency_keys") == "new"


# --- relay-sweep --------------------------------------------------------------------------------------


async def test_relay_sweep_publishes_what_waits_when_no_relay_leads(api, db, pool, event_settings, broker_url):
    async with consumer(broker_url, event_settings.events_exchange, "task.#") as received:
        task = await make_task(api)
        await eventually(lambda: all_settled(db), message="every event settled")

        assert await run_job("relay-sweep", pool, event_settings) == {"job": "relay-sweep", "published": 1}

        (message,) = await received.wait_for(1)
        assert (message.routing_key, json.loads(message.body)["subject"]) == ("task.created", task["id"])
        assert await unpublished_count(db) == 0
        assert await run_job("relay-sweep", pool, event_settings) == {"job": "relay-sweep", "published": 0}
        await received.quiet()
        assert len(received.messages) == 1


async def test_relay_sweep_leaves_the_outbox_to_a_relay_that_leads(api, db, pool, event_settings):
    await make_task(api)
    await db.execute("SELECT pg_advisory_lock($1)", LEAD_LOCK)
    try:
        assert await run_job("relay-sweep", pool, event_settings) == {"job": "relay-sweep", "published": 0}
    finally:
        await db.execute("SELECT pg_advisory_unlock($1)", LEAD_LOCK)
    assert await unpublished_count(db) == 1
