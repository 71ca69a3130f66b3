"""Automation rules firing in crm-worker against real PostgreSQL: from the event stream and from time, each
occasion once (two workers, an event handled twice), loops stopped, disabled rules silent, refusals recorded."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from crm.app.jobs import automation_engine
from crm.app.wiring import Wiring
from crm.domain.automation.repository import Occasion
from crm.domain.automation.schemas import AutomationRule
from crm.infrastructure.db.outbox import CAUSE_HEADER
from crm.infrastructure.db.pool import create_pool
from tests.auth import bearer
from tests.automation import RULES, make_rule, runs, stage_moved
from tests.factories import TASKS, make_deal, make_payment, make_policy, make_task
from tests.messaging.support import eventually, run_job
from tests.messaging.test_occasions_processes import run_twice_at_once
from tests.outbox import all_settled, outbox_rows
from tests.pipelines import history, make_pipeline, move, stage_id
from tests.values import ASSIGNEE, day

OWNER = ASSIGNEE
TASK = {"kind": "create_task", "title": "Send the proposal", "due_in_hours": 24}


async def follow(pool: Any, settings: Any, db: Any) -> dict[str, Any]:
    """One automation-events pass: it sees every event committed so far, with no relay and no broker."""
    await eventually(lambda: all_settled(db), message="every event settled")
    return await run_job("automation-events", pool, settings)


async def tasks_of(api: Any, deal: dict[str, Any]) -> list[dict[str, Any]]:
    response = await api.get(TASKS, params={"deal_id": deal["id"], "limit": 200})
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_an_event_rule_fires_once_on_the_event_and_not_again_when_the_event_comes_back(api, db, pool, settings):
    rule = await make_rule(api, stage_moved("proposal"), TASK)
    deal = await make_deal(api, owner_id=OWNER)
    assert (await move(api, deal, "proposal")).status_code == 200

    first = await follow(pool, settings, db)
    assert (first["busy"], first["fired"]) == (False, 1)
    [task] = await tasks_of(api, deal)
    assert (task["title"], task["assignee_id"], task["deal_id"], task["author_id"]) == (
        TASK["title"],
        OWNER,
        deal["id"],
        None,
    )
    [run] = await runs(api, rule)
    assert (run["status"], run["deal_id"], run["detail"]["task_id"], run["error"]) == (
        "done",
        deal["id"],
        task["id"],
        None,
    )
    assert run["occasion"] == f"event:{run['event_id']}"

    # Handled again from the start (a worker that died before recording how far it got): nothing fires twice.
    await db.execute("UPDATE crm.automation_feed SET position = 0")
    again = await follow(pool, settings, db)
    assert again["read"] > 0 and again["fired"] == 0
    assert len(await tasks_of(api, deal)) == 1 and len(await runs(api, rule)) == 1


async def test_two_workers_fire_each_occasion_once(api, db, pool, settings, database_url):
    rule = await make_rule(api, stage_moved("proposal"), TASK)
    deals = [await make_deal(api, owner_id=OWNER) for _ in range(6)]
    for deal in deals:
        await move(api, deal, "proposal")
    await eventually(lambda: all_settled(db), message="every event settled")
    other = await create_pool(database_url, min_size=1, max_size=4, command_timeout=30)
    try:
        passes = await asyncio.gather(
            run_job("automation-events", pool, settings), run_job("automation-events", other, settings)
        )
        assert sum(p["fired"] for p in passes) == 6
        # The firing itself, raced without the feed's lock between them: one run, one task.
        first, second = automation_engine(Wiring.of(pool, settings)), automation_engine(Wiring.of(other, settings))
        extra = await make_deal(api, owner_id=OWNER)
        live = AutomationRule.model_validate((await api.get(f"{RULES}/{rule['id']}")).json())
        occasion = Occasion(f"event:{uuid.uuid4()}", uuid.UUID(extra["id"]))
        fired = await asyncio.gather(first.fire(live, occasion), second.fire(live, occasion))
        assert sorted(str(status) for status in fired) == ["None", "done"]
    finally:
        await other.close()
    for deal in [*deals, extra]:
        assert len(await tasks_of(api, deal)) == 1
    assert len(await runs(api, rule)) == 7


async def test_a_rule_moving_a_deal_leaves_a_history_row_and_events_naming_it(api, db, pool, settings):
    rule = await make_rule(api, stage_moved("negotiation"), {"kind": "move_stage", "stage": "proposal"})
    deal = await make_deal(api)
    await move(api, deal, "negotiation")
    assert (await follow(pool, settings, db))["fired"] == 1

    moved = (await api.get(f"/api/v1/deals/{deal['id']}")).json()
    assert (moved["stage"], moved["status"]) == ("proposal", "proposal")
    last = (await history(api, deal))[-1]
    assert (last["from_stage"], last["to_stage"], last["actor_id"], last["rule_id"]) == (
        "negotiation",
        "proposal",
        None,
        rule["id"],
    )
    row = (await outbox_rows(db))[-1]
    assert row["routing_key"] == "deal.stage.changed"
    assert json.loads(row["headers"])[CAUSE_HEADER] == [rule["id"]]
    assert json.loads(row["payload"])["data"]["rule_id"] == rule["id"]
    [run] = await runs(api, rule)
    assert run["detail"] == {"from_stage": "negotiation", "to_stage": "proposal"}


async def test_two_rules_moving_a_deal_back_and_forth_are_stopped_at_the_loop(api, db, pool, settings):
    forth = await make_rule(api, stage_moved("negotiation"), {"kind": "move_stage", "stage": "proposal"}, name="forth")
    back = await make_rule(api, stage_moved("proposal"), {"kind": "move_stage", "stage": "negotiation"}, name="back")
    deal = await make_deal(api)
    await move(api, deal, "negotiation")
    for _ in range(4):
        await follow(pool, settings, db)

    assert [r["status"] for r in await runs(api, forth)] == ["loop_stopped", "done"]
    assert [r["status"] for r in await runs(api, back)] == ["done"]
    stopped = (await runs(api, forth))[0]
    assert stopped["cause"] == [forth["id"], back["id"]]
    assert [(h["to_stage"], h["rule_id"]) for h in await history(api, deal)] == [
        ("qualification", None),
        ("negotiation", None),
        ("proposal", forth["id"]),
        ("negotiation", back["id"]),
    ]


async def test_a_rule_re_triggered_by_its_own_change_fires_once(api, db, pool, settings):
    rule = await make_rule(
        api,
        {"kind": "event", "event_type": "deal.updated"},
        {"kind": "set_field", "field": "next_review_at", "value": day(3)},
    )
    deal = await make_deal(api)
    await api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "Renamed"})
    for _ in range(3):
        await follow(pool, settings, db)
    assert [r["status"] for r in await runs(api, rule)] == ["loop_stopped", "done"]
    assert (await api.get(f"/api/v1/deals/{deal['id']}")).json()["next_review_at"] == day(3)


async def test_a_disabled_rule_fires_on_nothing_and_once_enabled_only_on_what_came_after(api, db, pool, settings):
    rule = await make_rule(api, stage_moved("proposal"), TASK, enabled=False)
    early = await make_deal(api, owner_id=OWNER)
    await move(api, early, "proposal")
    assert (await follow(pool, settings, db))["fired"] == 0
    await api.patch(f"{RULES}/{rule['id']}", json={"enabled": True})
    late = await make_deal(api, owner_id=OWNER)
    await move(api, late, "proposal")
    await db.execute("UPDATE crm.automation_feed SET position = 0")  # even read again, the early event is older
    assert (await follow(pool, settings, db))["fired"] == 1
    assert [r["deal_id"] for r in await runs(api, rule)] == [late["id"]]
    await api.patch(f"{RULES}/{rule['id']}", json={"enabled": False})
    await move(api, late, "negotiation")
    await move(api, late, "proposal")
    assert (await follow(pool, settings, db))["fired"] == 0


async def test_conditions_on_owner_and_value_decide_which_deals_a_rule_fires_for(api, db, pool, settings):
    other_owner = str(uuid.uuid4())
    rule = await make_rule(
        api,
        stage_moved("proposal"),
        TASK,
        conditions={"owner_ids": [OWNER], "amount": {"currency": "RUB", "min": "1500", "max": "5000"}},
    )
    rich = await make_deal(api, owner_id=OWNER)
    policy = await make_policy(api, rich)
    await make_payment(api, policy, planned_amount="1000.00")
    await make_payment(api, policy, planned_amount="1000.00")
    await make_payment(api, policy, planned_amount="900.00", currency="USD")  # another currency: not counted
    poor = await make_deal(api, owner_id=OWNER)
    await make_payment(api, await make_policy(api, poor), planned_amount="1000.00")
    foreign = await make_deal(api, owner_id=other_owner)
    await make_payment(api, await make_policy(api, foreign), planned_amount="2000.00")
    for deal in (rich, poor, foreign):
        await move(api, deal, "proposal")
    assert (await follow(pool, settings, db))["fired"] == 1
    assert [r["deal_id"] for r in await runs(api, rule)] == [rich["id"]]


async def test_a_refused_action_is_a_failed_run_and_changes_nothing(api, db, pool, settings):
    renewals = await make_pipeline(api)  # a lost stage there needs a reason
    rule = await make_rule(api, stage_moved("quoted"), {"kind": "move_stage", "stage": "churned"})
    deal = await make_deal(api, pipeline_id=renewals["id"])
    await move(api, deal, "quoted")
    assert (await follow(pool, settings, db))["fired"] == 1
    [run] = await runs(api, rule)
    assert run["status"] == "failed" and run["error"].startswith("lost_reason_required: ")
    assert (await api.get(f"/api/v1/deals/{deal['id']}")).json()["stage"] == "quoted"
    assert len(await history(api, deal)) == 2
    assert await runs(api, rule, status="done") == []


async def test_a_deal_standing_in_a_stage_too_long_fires_once_per_stay(api, db, pool, settings):
    renewals = await make_pipeline(api)
    rule = await make_rule(
        api,
        {"kind": "deal_in_stage", "stage_id": stage_id(renewals, "reminded"), "hours": 2},
        {"kind": "notify", "message": "Still waiting"},
    )
    stale = await make_deal(api, pipeline_id=renewals["id"], owner_id=OWNER)
    fresh = await make_deal(api, pipeline_id=renewals["id"], owner_id=OWNER)
    await db.execute(
        "UPDATE crm.deals SET stage_entered_at = now() - interval '3 hours' WHERE id = $1", uuid.UUID(stale["id"])
    )

    passes = await asyncio.gather(
        run_job("automation-timers", pool, settings), run_job("automation-timers", pool, settings)
    )
    assert sum(p["fired"] for p in passes) == 1
    [run] = await runs(api, rule)
    assert (run["status"], run["deal_id"]) == ("done", stale["id"])
    notification = await db.fetchrow("SELECT event_key, payload, recipients FROM crm.notifications")
    assert notification["event_key"] == "automation.rule.fired"
    assert json.loads(notification["payload"])["message"] == "Still waiting"
    assert json.loads(notification["recipients"]) == [{"user_id": OWNER, "telegram_id": None}]
    assert (await run_job("automation-timers", pool, settings))["fired"] == 0
    # Left and came back: a new stay, a new occasion.
    await move(api, stale, "quoted")
    await move(api, stale, "reminded")
    await db.execute(
        "UPDATE crm.deals SET stage_entered_at = now() - interval '5 hours' WHERE id = ANY($1::uuid[])",
        [uuid.UUID(stale["id"]), uuid.UUID(fresh["id"])],
    )
    assert (await run_job("automation-timers", pool, settings))["fired"] == 2


async def test_an_overdue_payment_fires_after_its_days_and_a_paid_one_never(api, db, pool, settings):
    rule = await make_rule(api, {"kind": "payment_overdue", "days": 3}, TASK)
    deal = await make_deal(api, owner_id=OWNER)
    policy = await make_policy(api, deal)
    late = await make_payment(api, policy, planned_date=day(-5))
    recent = await make_payment(api, policy, planned_date=day(-2))
    paid = await make_payment(api, policy, planned_date=day(-5))
    response = await api.post(
        f"/api/v1/deals/{deal['id']}/policies/{policy['id']}/payments/{paid['id']}/incomes",
        json={"amount": "1000.00", "category": "premium", "posted_at": day(-1)},
    )
    assert response.status_code == 201, response.text
    assert (await run_job("automation-timers", pool, settings))["fired"] == 1
    [run] = await runs(api, rule)
    assert run["occasion"] == f"payment:{late['id']}@{late['planned_date']}"
    assert recent["id"] not in run["occasion"]
    assert len(await tasks_of(api, deal)) == 1


async def test_an_overdue_task_fires_once_per_due_time(api, db, pool, settings):
    rule = await make_rule(
        api, {"kind": "task_overdue"}, {"kind": "set_field", "field": "title", "value": "Overdue work"}
    )
    deal = await make_deal(api)
    task = await make_task(api, deal_id=deal["id"], assignee_id=OWNER)
    done = await make_task(api, deal_id=deal["id"], assignee_id=OWNER)
    await api.post(f"{TASKS}/{done['id']}/complete", headers=bearer(uuid.UUID(OWNER), "admin"))
    await db.execute(
        "UPDATE crm.tasks SET due_at = now() - interval '1 minute' WHERE deal_id = $1", uuid.UUID(deal["id"])
    )
    assert (await run_job("automation-timers", pool, settings))["fired"] == 1
    [run] = await runs(api, rule)
    assert run["occasion"].startswith(f"task:{task['id']}@")
    assert (await api.get(f"/api/v1/deals/{deal['id']}")).json()["title"] == "Overdue work"
    assert (await run_job("automation-timers", pool, settings))["fired"] == 0


async def test_two_worker_processes_fire_each_occasion_once(api, db, database_url, tmp_path):
    event_rule = await make_rule(api, stage_moved("proposal"), TASK)
    renewals = await make_pipeline(api)
    time_rule = await make_rule(
        api, {"kind": "deal_in_stage", "stage_id": stage_id(renewals, "reminded"), "hours": 1}, TASK
    )
    moved = [await make_deal(api, owner_id=OWNER) for _ in range(12)]
    for deal in moved:
        await move(api, deal, "proposal")
    waiting = [await make_deal(api, pipeline_id=renewals["id"], owner_id=OWNER) for _ in range(12)]
    await db.execute(
        "UPDATE crm.deals SET stage_entered_at = now() - interval '2 hours' WHERE pipeline_id = $1",
        uuid.UUID(renewals["id"]),
    )
    await eventually(lambda: all_settled(db), message="every event settled")

    events = await run_twice_at_once("automation-events", database_url, tmp_path)
    timers = await run_twice_at_once("automation-timers", database_url, tmp_path)

    assert sum(s["fired"] for s in events) == len(moved), events
    assert sum(s["fired"] for s in timers) == len(waiting), timers
    per_deal = await db.fetch("SELECT deal_id, count(*) AS n FROM crm.tasks GROUP BY deal_id")
    assert len(per_deal) == len(moved) + len(waiting) and {row["n"] for row in per_deal} == {1}
    assert len(await runs(api, event_rule)) == len(moved) and len(await runs(api, time_rule)) == len(waiting)
