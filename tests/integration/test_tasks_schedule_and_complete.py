"""The task actions POST …/schedule (and reschedule) and POST …/complete: when each is allowed."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.factories import TASKS, assert_problem, make_task
from tests.values import MISSING, at


async def test_schedule_and_reschedule(api):
    task = await make_task(api)
    url = f"{TASKS}/{task['id']}/schedule"
    first, second = at(2), at(4)
    scheduled = (await api.post(url, json={"scheduled_for": first})).json()
    assert scheduled["status"] == "scheduled"
    moved = await api.post(url, json={"scheduledFor": second}, headers={"If-Match": '"2"'})
    assert moved.status_code == 200
    assert datetime.fromisoformat(moved.json()["scheduled_for"]) == datetime.fromisoformat(second)
    assert moved.headers["etag"] == '"3"'


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 422, "validation_error", "scheduled_for"),
        ({"scheduled_for": "later"}, 422, "validation_error", "scheduled_for"),
        ({"scheduled_for": 2**40}, 422, "validation_error", "scheduled_for"),
        ({"scheduled_for": "2020-01-01T00:00:00Z"}, 422, "rule_violation", "scheduled_for"),
    ],
)
async def test_bad_schedule_is_refused(api, body, status, code, field):
    task = await make_task(api)
    assert_problem(await api.post(f"{TASKS}/{task['id']}/schedule", json=body), status, code, field)


async def test_schedule_of_a_task_in_progress_or_closed_is_409(api):
    task = await make_task(api)
    await api.patch(f"{TASKS}/{task['id']}", json={"status": "in_progress"})
    response = await api.post(f"{TASKS}/{task['id']}/schedule", json={"scheduled_for": at(1)})
    assert_problem(response, 409, "invalid_status_transition")
    await api.post(f"{TASKS}/{task['id']}/complete")
    response = await api.post(f"{TASKS}/{task['id']}/schedule", json={"scheduled_for": at(1)})
    assert_problem(response, 409, "invalid_status_transition")


async def test_schedule_and_complete_of_unknown_task_are_404(api):
    assert_problem(await api.post(f"{TASKS}/{MISSING}/schedule", json={"scheduled_for": at(1)}), 404, "task_not_found")
    assert_problem(await api.post(f"{TASKS}/{MISSING}/complete"), 404, "task_not_found")


async def test_complete_and_complete_again(api):
    task = await make_task(api)
    first = await api.post(f"{TASKS}/{task['id']}/complete")
    assert first.status_code == 200
    assert first.json()["status"] == "completed" and first.json()["completed_at"]
    again = await api.post(f"{TASKS}/{task['id']}/complete")
    assert again.json() == first.json()


@pytest.mark.parametrize("start", ["scheduled", "cancelled"])
async def test_complete_from_scheduled_or_cancelled_is_409(api, start):
    task = await make_task(api, scheduled_for=at(2))
    if start == "cancelled":
        await api.patch(f"{TASKS}/{task['id']}", json={"status": "cancelled", "cancelled_reason": "x"})
    assert_problem(await api.post(f"{TASKS}/{task['id']}/complete"), 409, "invalid_status_transition")


async def test_complete_with_stale_if_match_is_412(api):
    task = await make_task(api)
    await api.patch(f"{TASKS}/{task['id']}", json={"status": "in_progress"})
    response = await api.post(f"{TASKS}/{task['id']}/complete", headers={"If-Match": '"1"'})
    assert_problem(response, 412, "precondition_failed")
