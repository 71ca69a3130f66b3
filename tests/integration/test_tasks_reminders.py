"""Adding a reminder to a task (POST …/reminders): one per time and channel, in the future, on an open task."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from tests.factories import TASKS, assert_problem, make_task
from tests.values import MISSING, at


async def test_add_reminder(api):
    task = await make_task(api)
    when = at(1)
    response = await api.post(f"{TASKS}/{task['id']}/reminders", json={"remindAt": when, "channel": "telegram"})
    assert response.status_code == 201
    reminder = response.json()
    assert set(reminder) == {"id", "task_id", "remind_at", "channel", "created_at"}
    assert (reminder["task_id"], reminder["channel"]) == (task["id"], "telegram")
    assert datetime.fromisoformat(reminder["remind_at"]) == datetime.fromisoformat(when)


async def test_duplicate_reminder_is_409_but_another_channel_is_fine(api):
    task = await make_task(api)
    url = f"{TASKS}/{task['id']}/reminders"
    when = at(1)
    assert (await api.post(url, json={"remind_at": when, "channel": "sse"})).status_code == 201
    assert_problem(await api.post(url, json={"remind_at": when, "channel": "sse"}), 409, "task_reminder_conflict")
    assert (await api.post(url, json={"remind_at": when, "channel": "telegram"})).status_code == 201


async def test_racing_duplicate_reminders_give_one_201_and_one_409(api, db):
    task = await make_task(api)
    body = {"remind_at": at(1), "channel": "sse"}
    url = f"{TASKS}/{task['id']}/reminders"
    responses = await asyncio.gather(api.post(url, json=body), api.post(url, json=body))
    assert sorted(r.status_code for r in responses) == [201, 409]
    assert_problem(next(r for r in responses if r.status_code == 409), 409, "task_reminder_conflict")
    assert await db.fetchval("SELECT count(*) FROM crm.task_reminders") == 1


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"channel": "sse"}, 422, "validation_error", "remind_at"),
        ({"remind_at": "2030-01-01T00:00:00Z", "channel": "email"}, 422, "validation_error", "channel"),
        ({"remind_at": "2030-01-01T00:00:00", "channel": "sse"}, 422, "validation_error", "remind_at"),
        ({"remind_at": 2**40, "channel": "sse"}, 422, "validation_error", "remind_at"),
        ({"remind_at": "2020-01-01T00:00:00Z", "channel": "sse"}, 422, "rule_violation", "remind_at"),
    ],
)
async def test_bad_reminder_is_refused(api, body, status, code, field):
    task = await make_task(api)
    assert_problem(await api.post(f"{TASKS}/{task['id']}/reminders", json=body), status, code, field)


async def test_a_retried_reminder_with_the_same_idempotency_key_is_replayed_not_refused(api, db):
    task = await make_task(api)
    body, headers = {"remind_at": at(1), "channel": "telegram"}, {"Idempotency-Key": "remind-1"}
    first = await api.post(f"{TASKS}/{task['id']}/reminders", json=body, headers=headers)
    again = await api.post(f"{TASKS}/{task['id']}/reminders", json=body, headers=headers)
    assert (first.status_code, again.status_code, again.json()) == (201, 201, first.json())
    assert await db.fetchval("SELECT count(*) FROM crm.task_reminders") == 1


async def test_reminders_on_closed_or_unknown_tasks_are_refused(api):
    body = {"remind_at": at(1), "channel": "sse"}
    assert_problem(await api.post(f"{TASKS}/{MISSING}/reminders", json=body), 404, "task_not_found")
    task = await make_task(api)
    await api.post(f"{TASKS}/{task['id']}/complete")
    assert_problem(await api.post(f"{TASKS}/{task['id']}/reminders", json=body), 409, "task_closed")
