"""The events tasks record: task.created, then only status changes; nothing for a refused change."""

from __future__ import annotations

import uuid

from tests.auth import bearer
from tests.factories import TASKS, make_task
from tests.outbox import recorded_events, routing_keys
from tests.values import MISSING, at


async def test_create_records_task_created_with_the_task(api, db):
    task = await make_task(api)
    assert await routing_keys(db) == ["task.created"]
    assert await recorded_events(db, "task.created") == [("task", task["id"], task)]


async def test_only_status_changes_are_events(api, db):
    actor = str(uuid.uuid4())
    headers = bearer(actor, "admin")
    task = await make_task(api)
    url = f"{TASKS}/{task['id']}"
    await api.patch(url, json={"title": "renamed", "priority": "high"}, headers=headers)
    assert await routing_keys(db) == ["task.created"]  # the contract has no task.updated
    await api.post(f"{url}/schedule", json={"scheduled_for": at(2)}, headers=headers)
    await api.post(f"{url}/schedule", json={"scheduled_for": at(3)}, headers=headers)  # a new time, same status
    await api.patch(url, json={"status": "in_progress"}, headers=headers)
    done = (await api.post(f"{url}/complete", headers=headers)).json()
    await api.post(f"{url}/complete", headers=headers)
    await api.post(f"{url}/reminders", json={"remind_at": at(1), "channel": "sse"})
    changes = await recorded_events(db, "task.status.changed")
    assert await routing_keys(db) == ["task.created"] + ["task.status.changed"] * 3
    assert [(d["old_status"], d["new_status"]) for _, _, d in changes] == [
        ("pending", "scheduled"),
        ("scheduled", "in_progress"),
        ("in_progress", "completed"),
    ]
    assert {(kind, aggregate) for kind, aggregate, _ in changes} == {("task", task["id"])}
    last = changes[-1][2]
    assert last == {
        "task_id": task["id"],
        "old_status": "in_progress",
        "new_status": "completed",
        "actor_id": actor,
        "task": done,
    }


async def test_refused_task_changes_record_nothing(api, db):
    task = await make_task(api)
    before = await routing_keys(db)
    url = f"{TASKS}/{task['id']}"
    await api.post(TASKS, json={"title": "T", "deal_id": MISSING})
    await api.patch(url, json={"status": "cancelled"})
    await api.patch(url, json={"title": "x"}, headers={"If-Match": '"7"'})
    await api.post(f"{url}/schedule", json={"scheduled_for": at(-1)})
    await api.patch(url, json={"status": "completed"})
    await api.patch(url, json={"status": "pending"})
    assert await routing_keys(db) == [*before, "task.status.changed"]
