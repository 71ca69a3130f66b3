"""Creating a task (POST /tasks): what is stored and answered, camelCase input, JSON fields, bad input, retries."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from tests.auth import bearer
from tests.factories import TASKS, assert_problem, make_deal, make_task
from tests.outbox import routing_keys
from tests.values import ASSIGNEE, at


async def test_create_task(api):
    author = str(uuid.uuid4())
    response = await api.post(
        TASKS,
        json={"title": "Call back", "description": "About CASCO", "assignee_id": ASSIGNEE, "due_at": at(24)},
        headers=bearer(author, "admin"),
    )
    assert response.status_code == 201
    task = response.json()
    assert (task["status"], task["priority"], task["author_id"], task["assignee_id"]) == (
        "pending",
        "normal",
        author,
        ASSIGNEE,
    )
    assert task["created_by_id"] == author
    assert (task["context"], task["payload"], task["scheduled_for"], task["completed_at"]) == ({}, {}, None, None)
    assert response.headers["location"] == f"{TASKS}/{task['id']}"
    assert response.headers["etag"] == '"1"'
    assert (await api.get(f"{TASKS}/{task['id']}")).json() == task


async def test_camel_case_input_is_accepted_and_answered_in_snake_case(api):
    deal = await make_deal(api)
    due = at(48)
    response = await api.post(
        TASKS,
        json={
            "subject": "Call back",
            "assigneeId": ASSIGNEE,
            "dueAt": due,
            "dealId": deal["id"],
            "clientId": deal["client_id"],
        },
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert (task["title"], task["assignee_id"], task["deal_id"], task["client_id"]) == (
        "Call back",
        ASSIGNEE,
        deal["id"],
        deal["client_id"],
    )
    assert datetime.fromisoformat(task["due_at"]) == datetime.fromisoformat(due)
    assert "assigneeId" not in task and "subject" not in task


async def test_a_task_with_a_future_schedule_starts_scheduled(api):
    when = at(2)
    task = await make_task(api, scheduled_for=when)
    assert task["status"] == "scheduled"
    assert datetime.fromisoformat(task["scheduled_for"]) == datetime.fromisoformat(when)


async def test_a_past_schedule_is_refused(api):
    response = await api.post(TASKS, json={"title": "T", "scheduledFor": at(-1)})
    assert_problem(response, 422, "rule_violation", "scheduled_for")


async def test_json_context_and_payload_keep_big_integers_and_unicode(api):
    context = {"n": 2**70, "neg": -(2**63) - 1, "f": 1.5, "nested": {"list": [1, "два", None, True]}}
    task = await make_task(api, context=context, payload={"source": "telegram"})
    assert task["context"] == context
    assert (await api.get(f"{TASKS}/{task['id']}")).json()["context"] == context


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "t" * 256}, "title"),
        ({"title": "bad\x00title"}, "title"),
        ({"title": 2**40}, "title"),
        ({"subject": "also a title"}, "subject"),
        ({"description": "d" * 10_001}, "description"),
        ({"description": "nul\x00"}, "description"),
        ({"priority": "urgent"}, "priority"),
        ({"priority": 2**40}, "priority"),
        ({"assignee_id": "nope"}, "assignee_id"),
        ({"assigneeId": 2**40}, "assigneeId"),
        ({"due_at": 1_767_225_600}, "due_at"),
        ({"due_at": 2**63}, "due_at"),
        ({"due_at": "2026-12-01T09:00:00"}, "due_at"),
        ({"dueAt": "soon"}, "dueAt"),
        ({"deal_id": "nope"}, "deal_id"),
        ({"context": [1]}, "context"),
        ({"context": {"k\x00": 1}}, "context"),
        ({"payload": {"k": "v\x00"}}, "payload"),
        ({"payload": {"blob": "x" * 70_000}}, "payload"),
        ({"author_id": ASSIGNEE}, "author_id"),
        ({"status": "completed"}, "status"),
        ({"completed_at": at(0)}, "completed_at"),
        ({"cancelled_reason": "no"}, "cancelled_reason"),
        ({"assignee_id": ASSIGNEE, "assigneeId": ASSIGNEE}, "assigneeId"),
    ],
)
async def test_invalid_task_input_is_422_naming_the_field(api, db, fields, field):
    body = {"title": "T", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    if "title" in fields and fields["title"] is None:
        body.pop("title", None)
    response = await api.post(TASKS, json=body)
    assert_problem(response, 422, "validation_error", field)
    assert await db.fetchval("SELECT count(*) FROM crm.tasks") == 0


async def test_non_finite_numbers_in_json_are_422(api):
    body = b'{"title": "T", "context": {"x": NaN, "y": Infinity}}'
    response = await api.post(TASKS, content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 422, "validation_error", "context")


async def test_a_retried_create_with_the_same_idempotency_key_makes_one_task(api, db):
    headers = {"Idempotency-Key": "task-create-1"}
    first = await api.post(TASKS, json={"title": "Once"}, headers=headers)
    again = await api.post(TASKS, json={"title": "Once"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM crm.tasks") == 1
    assert await routing_keys(db) == ["task.created"]
