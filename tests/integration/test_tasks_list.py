"""Listing tasks (GET /tasks): due first with undated last, keyset pages across that boundary, the filters."""

from __future__ import annotations

import uuid

import pytest

from tests.factories import TASKS, assert_problem, make_deal, make_task
from tests.values import ASSIGNEE, MISSING, at


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
