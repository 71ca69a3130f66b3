"""Tasks API: lifecycle, schedule, complete, reminders, links, the list and its order, events, errors."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.factories import (
    TASKS,
    assert_problem,
    make_client,
    make_deal,
    make_payment,
    make_policy,
    make_task,
    payments_url,
)
from tests.outbox import recorded_events, routing_keys
from tests.values import ASSIGNEE, MISSING, at

# --- create and read -------------------------------------------------------------------------------


async def test_create_task(api):
    author = str(uuid.uuid4())
    response = await api.post(
        TASKS,
        json={"title": "Call back", "description": "About CASCO", "assignee_id": ASSIGNEE, "due_at": at(24)},
        headers={"X-User-Id": author},
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


async def test_get_unknown_or_malformed_task(api):
    assert_problem(await api.get(f"{TASKS}/{MISSING}"), 404, "task_not_found")
    assert_problem(await api.get(f"{TASKS}/nope"), 422, "validation_error", "task_id")


async def test_get_with_current_etag_is_304(api):
    task = await make_task(api)
    response = await api.get(f"{TASKS}/{task['id']}", headers={"If-None-Match": '"1"'})
    assert response.status_code == 304


async def test_there_is_no_delete(api):
    task = await make_task(api)
    assert_problem(await api.delete(f"{TASKS}/{task['id']}"), 405, "method_not_allowed")


# --- links -----------------------------------------------------------------------------------------


async def test_links_to_live_deal_client_and_policy(api):
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    task = await make_task(api, deal_id=deal["id"], client_id=deal["client_id"], policy_id=policy["id"])
    assert (task["deal_id"], task["client_id"], task["policy_id"]) == (deal["id"], deal["client_id"], policy["id"])


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("deal_id", "deal_not_found"),
        ("client_id", "client_not_found"),
        ("policy_id", "policy_not_found"),
        ("payment_id", "payment_not_found"),
    ],
)
async def test_unknown_link_is_404(api, db, field, code):
    assert_problem(await api.post(TASKS, json={"title": "T", field: MISSING}), 404, code, field)
    task = await make_task(api)
    assert_problem(await api.patch(f"{TASKS}/{task['id']}", json={field: MISSING}), 404, code, field)
    assert await db.fetchval("SELECT count(*) FROM crm.tasks") == 1


async def test_deleted_deal_client_or_policy_cannot_be_linked(api):
    deal = await make_deal(api)
    policy = await make_policy(api, deal)
    assert (await api.delete(f"/api/v1/policies/{policy['id']}")).status_code == 204
    assert_problem(await api.post(TASKS, json={"title": "T", "policy_id": policy["id"]}), 404, "policy_not_found")
    assert (await api.delete(f"/api/v1/deals/{deal['id']}")).status_code == 204
    assert_problem(await api.post(TASKS, json={"title": "T", "deal_id": deal["id"]}), 404, "deal_not_found")
    client = await make_client(api, name="Gone")
    assert (await api.delete(f"/api/v1/clients/{client['id']}")).status_code == 204
    assert_problem(await api.post(TASKS, json={"title": "T", "client_id": client["id"]}), 404, "client_not_found")


async def test_a_link_waits_for_a_concurrent_deal_delete_and_then_refuses(api, db, database_url):
    deal = await make_deal(api)
    deleter = await asyncpg.connect(database_url)
    try:
        transaction = deleter.transaction()
        await transaction.start()
        # What DELETE /deals/{id} does: lock the deal, then mark it deleted.
        await deleter.execute("SELECT 1 FROM crm.deals WHERE id = $1 FOR UPDATE", uuid.UUID(deal["id"]))
        await deleter.execute("UPDATE crm.deals SET is_deleted = true WHERE id = $1", uuid.UUID(deal["id"]))
        create = asyncio.create_task(api.post(TASKS, json={"title": "T", "deal_id": deal["id"]}))
        await asyncio.sleep(0.3)
        assert not create.done()  # blocked on the deal's lock
        await transaction.commit()
        response = await create
    finally:
        await deleter.close()
    assert_problem(response, 404, "deal_not_found")
    assert await db.fetchval("SELECT count(*) FROM crm.tasks") == 0


async def test_a_task_may_point_at_a_live_payment_only(api):
    response = await api.post(TASKS, json={"title": "T", "paymentId": str(uuid.uuid4())})
    assert_problem(response, 404, "payment_not_found", "payment_id")
    policy = await make_policy(api)
    payment = await make_payment(api, policy)
    response = await api.post(TASKS, json={"title": "T", "paymentId": payment["id"]})
    assert response.status_code == 201, response.text
    assert response.json()["payment_id"] == payment["id"]
    gone = await make_payment(api, policy)
    assert (await api.delete(payments_url(policy, gone["id"]))).status_code == 204
    response = await api.post(TASKS, json={"title": "T", "paymentId": gone["id"]})
    assert_problem(response, 404, "payment_not_found", "payment_id")


async def test_links_can_be_cleared(api):
    deal = await make_deal(api)
    task = await make_task(api, deal_id=deal["id"])
    response = await api.patch(f"{TASKS}/{task['id']}", json={"dealId": None})
    assert response.json()["deal_id"] is None


# --- update ----------------------------------------------------------------------------------------


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


# --- status ----------------------------------------------------------------------------------------


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


# --- schedule and complete ---------------------------------------------------------------------------


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


# --- reminders ---------------------------------------------------------------------------------------


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


# --- list ----------------------------------------------------------------------------------------------


async def _walk(api, limit, **params):
    titles, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = await api.get(TASKS, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        titles += [t["title"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return titles, pages


async def test_list_order_is_due_at_with_undated_last_then_created_at(api):
    soon = at(1)
    for title, due in [("A", at(3)), ("B", soon), ("C", soon), ("D", None), ("E", None), ("F", at(2)), ("G", None)]:
        await make_task(api, title=title, **({"due_at": due} if due else {}))
    expected = ["B", "C", "F", "A", "D", "E", "G"]
    # Every page size puts a page boundary somewhere else: inside the dated part, on its last task,
    # on the first undated one and inside the undated part.
    for limit in range(1, 9):
        titles, pages = await _walk(api, limit)
        assert titles == expected, limit
        assert pages == max(1, -(-len(expected) // limit)), limit


async def test_pages_across_the_undated_boundary_with_a_filter(api):
    for n in range(3):
        await make_task(api, title=f"dated {n}", due_at=at(n + 1), assignee_id=ASSIGNEE)
        await make_task(api, title=f"undated {n}", assignee_id=ASSIGNEE)
        await make_task(api, title=f"other {n}", due_at=at(n + 1))
    titles, _ = await _walk(api, 2, assignee_id=ASSIGNEE, with_total="true")
    assert titles == ["dated 0", "dated 1", "dated 2", "undated 0", "undated 1", "undated 2"]


async def test_list_filters(api):
    deal = await make_deal(api)
    other = str(uuid.uuid4())
    await make_task(api, title="mine high", assignee_id=ASSIGNEE, priority="high", due_at=at(1), deal_id=deal["id"])
    await make_task(api, title="mine low", assignee_id=ASSIGNEE, priority="low", due_at=at(30))
    await make_task(api, title="other", assignee_id=other, due_at=at(5))
    await make_task(api, title="later", scheduled_for=at(2))
    done = await make_task(api, title="done", assignee_id=ASSIGNEE)
    await api.post(f"{TASKS}/{done['id']}/complete")

    async def titles(**params):
        response = await api.get(TASKS, params=params)
        assert response.status_code == 200, response.text
        return sorted(t["title"] for t in response.json()["items"])

    assert await titles(assignee_id=ASSIGNEE) == ["done", "mine high", "mine low"]
    assert await titles(assigneeId=ASSIGNEE) == ["done", "mine high", "mine low"]
    assert await titles(status=["pending", "scheduled"]) == ["later", "mine high", "mine low", "other"]
    assert await titles(status="completed") == ["done"]
    assert await titles(priority=["high", "low"]) == ["mine high", "mine low"]
    assert await titles(deal_id=deal["id"]) == ["mine high"]
    assert await titles(dealId=deal["id"]) == ["mine high"]
    assert await titles(due_before=at(10)) == ["mine high", "other"]
    assert await titles(dueAfter=at(3)) == ["mine low", "other"]
    assert await titles(due_after=at(3), dueBefore=at(10)) == ["other"]
    page = (await api.get(TASKS, params={"assignee_id": ASSIGNEE, "with_total": "true", "limit": 1})).json()
    assert (len(page["items"]), page["total"]) == (1, 3)


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({"status": "done"}, 422, "validation_error", "status"),
        ({"priority": "urgent"}, 422, "validation_error", "priority"),
        ({"assignee_id": "nope"}, 422, "validation_error", "assignee_id"),
        ({"due_before": "2026-12-01T00:00:00"}, 422, "validation_error", "due_before"),
        ({"dueAfter": "tomorrow"}, 422, "validation_error", "dueAfter"),
        ({"limit": 2**40}, 422, "validation_error", "limit"),
        ({"assignee_id": ASSIGNEE, "assigneeId": MISSING}, 422, "rule_violation", "assignee_id"),
        ({"cursor": "garbage"}, 400, "invalid_cursor", "cursor"),
        ({"cursor": "WyJkZWFsX2pvdXJuYWwiLFtdXQ"}, 400, "invalid_cursor", "cursor"),
    ],
)
async def test_bad_list_query(api, params, status, code, field):
    assert_problem(await api.get(TASKS, params=params), status, code, field)


# --- events ------------------------------------------------------------------------------------------


async def test_create_records_task_created_with_the_task(api, db):
    task = await make_task(api)
    assert await routing_keys(db) == ["task.created"]
    assert await recorded_events(db, "task.created") == [("task", task["id"], task)]


async def test_only_status_changes_are_events(api, db):
    actor = str(uuid.uuid4())
    headers = {"X-User-Id": actor}
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


async def test_a_retried_create_with_the_same_idempotency_key_makes_one_task(api, db):
    headers = {"Idempotency-Key": "task-create-1"}
    first = await api.post(TASKS, json={"title": "Once"}, headers=headers)
    again = await api.post(TASKS, json={"title": "Once"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM crm.tasks") == 1
    assert await routing_keys(db) == ["task.created"]
