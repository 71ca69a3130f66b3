"""Changing a task's fields (PATCH /tasks/{id}): what may change or be cleared, If-Match, no-op patches."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.factories import TASKS, assert_problem, make_task
from tests.values import ASSIGNEE, MISSING, at


async def test_patch_fields(api):
    task = await make_task(api, description="old", context={"a": 1})
    due = at(72)
    response = await api.patch(
        f"{TASKS}/{task['id']}",
        json={
            "subject": "New",
            "description": None,
            "priority": "high",
            "assigneeId": ASSIGNEE,
            "dueAt": due,
            "context": {"b": 2},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["title"], body["description"], body["priority"], body["assignee_id"]) == (
        "New",
        None,
        "high",
        ASSIGNEE,
    )
    assert body["context"] == {"b": 2}
    assert datetime.fromisoformat(body["due_at"]) == datetime.fromisoformat(due)
    assert (body["version"], response.headers["etag"]) == (2, '"2"')


@pytest.mark.parametrize("field", ["title", "subject", "status", "priority", "context", "payload"])
async def test_patch_cannot_clear_required_fields(api, field):
    task = await make_task(api)
    response = await api.patch(f"{TASKS}/{task['id']}", json={field: None})
    assert_problem(response, 422, "rule_violation", "title" if field == "subject" else field)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"status": "done"}, "status"),
        ({"priority": 3}, "priority"),
        ({"author_id": ASSIGNEE}, "author_id"),
        ({"completed_at": at(0)}, "completed_at"),
        ({"dueAt": 2**40}, "dueAt"),
        ({"title": "x\x00"}, "title"),
        ({"cancelled_reason": "r" * 2001}, "cancelled_reason"),
        ({"cancelledReason": "   "}, "cancelledReason"),
    ],
)
async def test_invalid_patch_is_422(api, patch, field):
    task = await make_task(api)
    assert_problem(await api.patch(f"{TASKS}/{task['id']}", json=patch), 422, "validation_error", field)


async def test_patch_with_stale_if_match_is_412(api):
    task = await make_task(api)
    await api.patch(f"{TASKS}/{task['id']}", json={"title": "v2"})
    response = await api.patch(f"{TASKS}/{task['id']}", json={"title": "v3"}, headers={"If-Match": '"1"'})
    assert_problem(response, 412, "precondition_failed")
    assert response.headers["etag"] == '"2"'
    ok = await api.patch(f"{TASKS}/{task['id']}", json={"title": "v3"}, headers={"If-Match": '"2"'})
    assert ok.json()["version"] == 3


async def test_patch_of_unknown_task_is_404(api):
    assert_problem(await api.patch(f"{TASKS}/{MISSING}", json={"title": "x"}), 404, "task_not_found")


async def test_unchanged_patch_keeps_the_version(api):
    task = await make_task(api)
    response = await api.patch(f"{TASKS}/{task['id']}", json={"title": task["title"], "status": "pending"})
    assert response.json()["version"] == 1
