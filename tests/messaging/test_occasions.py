"""Occasions that reach people, run as crm-worker runs them, against real PostgreSQL: payments falling due or
overdue, task reminders, policies to renew or expired; each fires once, also when runs overlap."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, date
from typing import Any

from crm.app import jobs
from crm.app.config import Settings
from crm.app.wiring import Wiring
from crm.domain.occasions.payments import PaymentDueNotices
from crm.domain.occasions.renewals import PolicyRenewals
from tests.factories import add_reminder, make_deal, make_payment, make_policy, make_task, payments_url, post_line
from tests.messaging.support import make_due
from tests.outbox import recorded_events
from tests.recording_intake import RecordingIntake
from tests.values import at, day

OWNER = uuid.UUID("7a1e0d2c-3b4f-4a5e-8d6c-9b0a1f2e3d4c")
DEAL_OWNER = uuid.UUID("1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f")


async def run(name: str, pool: Any, settings: Settings, intake: RecordingIntake | None) -> dict[str, Any]:
    """One job run, with ``intake`` as the wiring's notification intake (None: the real one)."""
    wiring = Wiring.of(pool, settings)
    if intake is not None:
        wiring = dataclasses.replace(wiring, notification_intake=intake)
    return await jobs.run(name, wiring)


async def policy_of(api, *, owner: uuid.UUID | None = OWNER, deal_owner: uuid.UUID | None = None, **fields):
    deal = await make_deal(api, owner_id=str(deal_owner) if deal_owner else None)
    return await make_policy(
        api, deal, owner_id=str(owner) if owner else None, status=fields.pop("status", "active"), **fields
    )


def dumped(intake: RecordingIntake, event_key: str) -> list[dict[str, Any]]:
    return [request.model_dump(mode="json") for request in intake.of(event_key)]


# --- payment.due ------------------------------------------------------------------------------------------------


async def test_unpaid_instalments_due_within_the_notice_days_notify_the_policy_owner_once(api, db, pool, settings):
    policy = await policy_of(api)
    today = await make_payment(api, policy, planned_date=day(0), planned_amount="1000")
    last_day = await make_payment(api, policy, planned_date=day(3))
    partly = await make_payment(api, policy, planned_date=day(1))
    await post_line(api, policy, partly, "incomes", "400.00")
    paid = await make_payment(api, policy, planned_date=day(2))
    await post_line(api, policy, paid, "incomes", "1000.00")
    cancelled = await make_payment(api, policy, planned_date=day(2))
    assert (await api.post(payments_url(policy, cancelled["id"], "cancel"))).status_code == 200
    deleted = await make_payment(api, policy, planned_date=day(2))
    assert (await api.delete(payments_url(policy, deleted["id"]))).status_code == 204
    await make_payment(api, policy, planned_date=day(4))  # not yet
    await make_payment(api, policy, planned_date=day(-1))  # overdue: another occasion
    intake = RecordingIntake()

    assert await run("payment-due", pool, settings, intake) == {"job": "payment-due", "noticed": 3, "notified": 3}

    notices = {n["payload"]["payment_id"]: n for n in dumped(intake, "payment.due")}
    assert set(notices) == {today["id"], last_day["id"], partly["id"]}
    assert notices[today["id"]] == {
        "event_key": "payment.due",
        "recipients": [{"user_id": str(OWNER), "telegram_id": None}],
        "payload": {
            "payment_id": today["id"],
            "policy_id": policy["id"],
            "deal_id": policy["deal_id"],
            "policy_number": policy["policy_number"],
            "sequence": today["sequence"],
            "planned_date": day(0),
            "planned_amount": "1000.00",
            "currency": "RUB",
        },
        "channel_overrides": ["sse"],
        "deduplication_key": f"payment.due:{today['id']}:{day(0)}",
    }
    assert {actor.actor_id for actor in intake.actors} == {None}  # crm-worker, on its own

    assert await run("payment-due", pool, settings, intake) == {"job": "payment-due", "noticed": 0, "notified": 0}
    assert len(intake.requests) == 3


async def test_a_payment_moved_to_another_day_is_due_again_on_that_day(api, pool, settings):
    policy = await policy_of(api)
    payment = await make_payment(api, policy, planned_date=day(1))
    intake = RecordingIntake()
    await run("payment-due", pool, settings, intake)
    moved = await api.patch(payments_url(policy, payment["id"]), json={"planned_date": day(2)})
    assert moved.status_code == 200, moved.text

    assert (await run("payment-due", pool, settings, intake))["noticed"] == 1
    keys = [n.deduplication_key for n in intake.of("payment.due")]
    assert keys == [f"payment.due:{payment['id']}:{day(1)}", f"payment.due:{payment['id']}:{day(2)}"]


async def test_a_policy_without_owner_notifies_the_deal_owner_and_without_either_the_staff(api, pool, settings):
    of_deal_owner = await make_payment(
        api, await policy_of(api, owner=None, deal_owner=DEAL_OWNER), planned_date=day(1)
    )
    nobodys = await make_payment(api, await policy_of(api, owner=None), planned_date=day(1))
    intake = RecordingIntake()

    await run("payment-due", pool, settings, intake)

    recipients = {n["payload"]["payment_id"]: n["recipients"] for n in dumped(intake, "payment.due")}
    assert recipients == {of_deal_owner["id"]: [{"user_id": str(DEAL_OWNER), "telegram_id": None}], nobodys["id"]: []}


async def test_an_owner_who_prefers_telegram_is_notified_there(api, pool, settings):
    contacts = {"telegram_id": "987654321", "preferred_channel": "telegram"}
    assert (await api.put(f"/api/v1/users/{OWNER}/contacts", json=contacts)).status_code == 201
    await make_payment(api, await policy_of(api), planned_date=day(1))
    intake = RecordingIntake()

    await run("payment-due", pool, settings, intake)

    [notice] = dumped(intake, "payment.due")
    assert (notice["recipients"], notice["channel_overrides"]) == (
        [{"user_id": str(OWNER), "telegram_id": "987654321"}],
        ["telegram"],
    )


async def test_overlapping_runs_notify_each_due_payment_once(api, db, pool, settings):
    policy = await policy_of(api)
    payments = [await make_payment(api, policy, planned_date=day(n % 4)) for n in range(12)]
    intake = RecordingIntake()

    runs = await asyncio.gather(*(run("payment-due", pool, settings, intake) for _ in range(3)))

    assert sum(r["noticed"] for r in runs) == len(payments)
    assert sorted(n.payload["payment_id"] for n in intake.of("payment.due")) == sorted(p["id"] for p in payments)
    assert await db.fetchval("SELECT count(*) FROM crm.payments WHERE due_noticed_for = planned_date") == len(payments)


# --- payment.overdue --------------------------------------------------------------------------------------------


async def test_an_overdue_payment_notifies_the_owner_once_beside_its_event(api, db, pool, settings):
    policy = await policy_of(api)
    payment = await make_payment(api, policy, planned_date=day(-2), planned_amount="250.5")
    intake = RecordingIntake()

    assert await run("overdue-payments", pool, settings, intake) == {"job": "overdue-payments", "announced": 1}
    assert await run("overdue-payments", pool, settings, intake) == {"job": "overdue-payments", "announced": 0}

    [notice] = dumped(intake, "payment.overdue")
    assert notice["recipients"] == [{"user_id": str(OWNER), "telegram_id": None}]
    assert notice["payload"]["planned_amount"] == "250.50"
    assert notice["payload"]["planned_date"] == day(-2)
    assert notice["deduplication_key"] == f"payment.overdue:{payment['id']}:{day(-2)}"
    assert len(await recorded_events(db, "deal.payment.updated")) == 1


# --- task.reminder ----------------------------------------------------------------------------------------------


async def test_a_due_reminder_notifies_the_assignee_with_the_reminder_payload(api, db, pool, settings):
    deal = await make_deal(api)
    task = await make_task(api, assignee_id=str(OWNER), due_at=at(24), deal_id=deal["id"])
    reminder = await add_reminder(api, task, channel="sse")
    remind_at = await make_due(db, reminder)
    intake = RecordingIntake()

    assert await run("task-reminders", pool, settings, intake) == {"job": "task-reminders", "fired": 1, "dropped": 0}
    assert await run("task-reminders", pool, settings, intake) == {"job": "task-reminders", "fired": 0, "dropped": 0}

    [notice] = dumped(intake, "task.reminder")
    payload = notice.pop("payload")
    assert notice == {
        "event_key": "task.reminder",
        "recipients": [{"user_id": str(OWNER), "telegram_id": None}],
        "channel_overrides": ["sse"],
        "deduplication_key": f"task.reminder:{reminder['id']}",
    }
    assert set(payload) == {"task_id", "title", "remind_at", "due_at", "deal_id"}
    assert (payload["task_id"], payload["title"], payload["deal_id"]) == (task["id"], task["title"], deal["id"])
    assert date.fromisoformat(payload["remind_at"][:10]) == remind_at.astimezone(UTC).date()
    assert payload["due_at"][:16] == task["due_at"][:16]


async def test_a_telegram_reminder_reaches_the_assignees_chat_or_falls_back_to_sse(api, db, pool, settings):
    reachable, unreachable = uuid.uuid4(), uuid.uuid4()
    contacts = {"telegram_id": "-100200300", "preferred_channel": "sse"}
    assert (await api.put(f"/api/v1/users/{reachable}/contacts", json=contacts)).status_code == 201
    for person in (reachable, unreachable):
        await make_due(db, await add_reminder(api, await make_task(api, assignee_id=str(person)), channel="telegram"))
    intake = RecordingIntake()

    await run("task-reminders", pool, settings, intake)

    by_user = {n["recipients"][0]["user_id"]: n for n in dumped(intake, "task.reminder")}
    assert by_user[str(reachable)]["recipients"][0]["telegram_id"] == "-100200300"
    assert by_user[str(reachable)]["channel_overrides"] == ["telegram"]
    assert by_user[str(unreachable)]["recipients"][0]["telegram_id"] is None
    assert by_user[str(unreachable)]["channel_overrides"] == ["sse"]


# --- policy.renewal and expiry ----------------------------------------------------------------------------------


async def tasks_of(db, policy: dict[str, Any]) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM crm.tasks WHERE policy_id = $1", uuid.UUID(policy["id"]))
    return [dict(row) for row in rows]


async def test_a_policy_ending_within_the_notice_days_awaits_renewal_with_one_task_and_its_owner_told(
    api, db, pool, settings
):
    ending = await policy_of(api, effective_from=day(-300), effective_to=day(30))
    later = await policy_of(api, effective_from=day(-300), effective_to=day(31))
    draft = await policy_of(api, status="draft", effective_from=day(-300), effective_to=day(10))
    intake = RecordingIntake()

    summary = await run("policy-renewals", pool, settings, intake)

    assert summary == {"job": "policy-renewals", "renewing": 1, "expired": 0, "notified": 1}
    assert (await api.get(f"/api/v1/policies/{ending['id']}")).json()["status"] == "pending_renewal"
    assert (await api.get(f"/api/v1/policies/{later['id']}")).json()["status"] == "active"
    assert (await api.get(f"/api/v1/policies/{draft['id']}")).json()["status"] == "draft"
    [task] = await tasks_of(db, ending)
    assert (task["assignee_id"], task["deal_id"], task["client_id"], task["status"]) == (
        OWNER,
        uuid.UUID(ending["deal_id"]),
        uuid.UUID(ending["client_id"]),
        "pending",
    )
    assert task["due_at"].astimezone(settings.business_zone).date().isoformat() == day(30)
    [notice] = dumped(intake, "policy.renewal")
    assert notice == {
        "event_key": "policy.renewal",
        "recipients": [{"user_id": str(OWNER), "telegram_id": None}],
        "payload": {
            "policy_id": ending["id"],
            "policy_number": ending["policy_number"],
            "effective_to": day(30),
            "client_id": ending["client_id"],
            "deal_id": ending["deal_id"],
            "renewal_task_id": str(task["id"]),
        },
        "channel_overrides": ["sse"],
        "deduplication_key": f"policy.renewal:{ending['id']}:{day(30)}",
    }
    [(_, policy_id, data)] = await recorded_events(db, "policy.updated")
    assert (policy_id, data["status"]) == (ending["id"], "pending_renewal")
    assert [event[1] for event in await recorded_events(db, "task.created")] == [str(task["id"])]

    again = await run("policy-renewals", pool, settings, intake)
    assert again == {"job": "policy-renewals", "renewing": 0, "expired": 0, "notified": 0}
    assert len(await tasks_of(db, ending)) == 1


async def test_a_policy_put_back_to_active_is_not_renewed_twice_for_the_same_end(api, db, pool, settings):
    policy = await policy_of(api, effective_from=day(-300), effective_to=day(5))
    await run("policy-renewals", pool, settings, RecordingIntake())
    assert (await api.patch(f"/api/v1/policies/{policy['id']}", json={"status": "active"})).status_code == 200

    assert (await run("policy-renewals", pool, settings, RecordingIntake()))["renewing"] == 0
    assert (await api.patch(f"/api/v1/policies/{policy['id']}", json={"effective_to": day(6)})).status_code == 200
    assert (await run("policy-renewals", pool, settings, RecordingIntake()))["renewing"] == 1
    assert len(await tasks_of(db, policy)) == 2


async def test_an_unrenewed_policy_past_its_last_day_expires(api, db, pool, settings):
    active = await policy_of(api, effective_from=day(-365), effective_to=day(-1))
    waiting = await policy_of(api, effective_from=day(-365), effective_to=day(-3))
    await db.execute("UPDATE crm.policies SET status = 'pending_renewal' WHERE id = $1", uuid.UUID(waiting["id"]))
    closed = await policy_of(api, status="closed", effective_from=day(-365), effective_to=day(-1))
    last_day_today = await policy_of(api, effective_from=day(-365), effective_to=day(0))

    summary = await run("policy-renewals", pool, settings, None)

    assert (summary["expired"], summary["renewing"]) == (2, 1)
    status = {p["id"]: (await api.get(f"/api/v1/policies/{p['id']}")).json()["status"] for p in (active, waiting)}
    assert status == {active["id"]: "expired", waiting["id"]: "expired"}
    assert (await api.get(f"/api/v1/policies/{closed['id']}")).json()["status"] == "closed"
    assert (await api.get(f"/api/v1/policies/{last_day_today['id']}")).json()["status"] == "pending_renewal"
    assert (await run("policy-renewals", pool, settings, None))["expired"] == 0


async def test_overlapping_renewal_runs_create_one_task_per_policy(api, db, pool, settings):
    policies = [await policy_of(api, effective_from=day(-300), effective_to=day(n + 1)) for n in range(8)]
    intake = RecordingIntake()

    runs = await asyncio.gather(*(run("policy-renewals", pool, settings, intake) for _ in range(3)))

    assert sum(r["renewing"] for r in runs) == len(policies)
    counts = await db.fetch("SELECT policy_id, count(*) AS n FROM crm.tasks GROUP BY policy_id")
    assert sorted(str(row["policy_id"]) for row in counts) == sorted(p["id"] for p in policies)
    assert {row["n"] for row in counts} == {1}
    assert len(intake.of("policy.renewal")) == len(policies)
    assert len(await recorded_events(db, "policy.updated")) == len(policies)


async def test_small_batches_of_overlapping_runs_interleave_and_still_fire_each_occasion_once(api, db, pool, settings):
    wiring = Wiring.of(pool, settings)
    policy = await policy_of(api, effective_from=day(-300), effective_to=day(20))
    for n in range(6):
        await policy_of(api, effective_from=day(-300), effective_to=day(1 + n))
    for n in range(15):
        await make_payment(api, policy, planned_date=day(n % 4))
    intake = RecordingIntake()

    def renewals() -> PolicyRenewals:
        return PolicyRenewals(wiring.uow, wiring.clock, intake, notice_days=30, batch_size=2)

    def dues() -> PaymentDueNotices:
        return PaymentDueNotices(wiring.uow, wiring.clock, intake, notice_days=3, batch_size=2)

    renewed = await asyncio.gather(*(renewals().renew_ending() for _ in range(4)))
    noticed = await asyncio.gather(*(dues().notify_due() for _ in range(4)))

    assert sum(count for count, _ in renewed) == 7
    assert sum(run.noticed for run in noticed) == 15
    assert await db.fetchval("SELECT count(DISTINCT policy_id) FROM crm.tasks") == 7
    assert await db.fetchval("SELECT count(*) FROM crm.tasks") == 7
    keys = [request.deduplication_key for request in intake.requests]
    assert len(keys) == len(set(keys)) == 22
