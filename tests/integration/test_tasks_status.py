"""A task's status through PATCH: the allowed moves, completion time, cancel reasons, scheduling needs a time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import TASKS, assert_problem, make_task
from tests.values import at


async def test_status_moves_and_completion_time(api):
    task = await make_task(api)
    url = f"{TASKS}/{task['id']}"
    assert (await api.patch(url, json={"status": "in_progress"})).json()["status"] == "in_progress"
    assert (await api.patch(url, json={"status": "pending"})).json()["status"] == "pending"
    done = (await api.patch(url, json={"status": "completed"})).json()
    assert done["status"] == "completed"
    assert datetime.fromisoformat(done["completed_at"]) <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("path", "target"),
    [
        (["completed"], "pending"),
        (["completed"], "in_progress"),
        (["cancelled"], "pending"),
        (["in_progress"], "scheduled"),
        (["scheduled"], "completed"),
    ],
)
async def test_invalid_status_transition_is_409(api, path, target):
    task = await make_task(api)
    url = f"{TASKS}/{task['id']}"
    for status in path:
        body = {"status": status}
        if status == "cancelled":
            body["cancelled_reason"] = "client declined"
        if status == "scheduled":
            body["scheduled_for"] = at(5)
        assert (await api.patch(url, json=body)).status_code == 200
    body = {"status": target, "scheduled_for": at(5)} if target == "scheduled" else {"status": target}
    assert_problem(await api.patch(url, json=body), 409, "invalid_status_transition", "status")


async def test_cancelling_needs_a_reason(api):
    task = await make_task(api)
    url = f"{TASKS}/{task['id']}"
    assert_problem(
        await api.patch(url, json={"status": "cancelled"}), 422, "cancelled_reason_required", "cancelled_reason"
    )
    response = await api.patch(url, json={"status": "cancelled", "cancelledReason": "  duplicate  "})
    assert (response.json()["status"], response.json()["cancelled_reason"]) == ("cancelled", "duplicate")
    assert_problem(await api.patch(url, json={"cancelled_reason": None}), 422, "cancelled_reason_required")
    assert (await api.patch(url, json={"cancelled_reason": "merged"})).json()["cancelled_reason"] == "merged"


async def test_only_a_cancelled_task_has_a_reason(api):
    task = await make_task(api)
    response = await api.patch(f"{TASKS}/{task['id']}", json={"cancelled_reason": "why"})
    assert_problem(response, 422, "rule_violation", "cancelled_reason")


async def test_scheduling_through_patch_needs_a_future_time(api):
    task = await make_task(api)
    url = f"{TASKS}/{task['id']}"
    assert_problem(await api.patch(url, json={"status": "scheduled"}), 422, "scheduled_for_required", "scheduled_for")
    past = {"status": "scheduled", "scheduled_for": at(-1)}
    assert_problem(await api.patch(url, json=past), 422, "rule_violation", "scheduled_for")
    assert_problem(await api.patch(url, json={"scheduled_for": at(3)}), 422, "rule_violation", "scheduled_for")
    scheduled = (await api.patch(url, json={"status": "scheduled", "scheduledFor": at(3)})).json()
    assert scheduled["status"] == "scheduled"
    assert_problem(await api.patch(url, json={"scheduled_for": None}), 422, "scheduled_for_required")


async def test_leaving_scheduled_clears_the_schedule(api):
    task = await make_task(api, scheduled_for=at(3))
    url = f"{TASKS}/{task['id']}"
    pending = (await api.patch(url, json={"status": "pending"})).json()
    assert (pending["status"], pending["scheduled_for"]) == ("pending", None)
    cancelled = (await api.patch(url, json={"status": "cancelled", "cancelled_reason": "x"})).json()
    assert cancelled["scheduled_for"] is None
