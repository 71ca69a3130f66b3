"""Reading one task (GET /tasks/{id}), with its ETag; and tasks are never deleted."""

from __future__ import annotations

from tests.factories import TASKS, assert_problem, make_task
from tests.values import MISSING


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
