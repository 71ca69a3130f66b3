"""The due filters take an instant or a plain date; a plain date is its midnight in the business time zone."""

from __future__ import annotations

from tests.factories import assert_problem, make_task


async def titles(api, query: str) -> list[str]:
    response = await api.get(f"/api/v1/tasks?{query}")
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()["items"]]


async def test_a_plain_date_is_midnight_in_the_business_time_zone(api):
    # Moscow is UTC+3: 2027-03-10 starts at 2027-03-09T21:00Z.
    await make_task(api, title="late on the 9th", due_at="2027-03-09T20:59:00Z")
    await make_task(api, title="early on the 10th", due_at="2027-03-09T21:00:00Z")
    await make_task(api, title="on the 11th", due_at="2027-03-11T09:00:00+03:00")

    assert await titles(api, "due_before=2027-03-10") == ["late on the 9th"]
    assert await titles(api, "due_after=2027-03-10") == ["early on the 10th", "on the 11th"]
    assert await titles(api, "dueAfter=2027-03-10&dueBefore=2027-03-11") == ["early on the 10th"]


async def test_an_instant_still_works_and_nonsense_is_refused(api):
    await make_task(api, title="due", due_at="2027-03-09T20:59:00Z")

    assert await titles(api, "due_before=2027-03-09T21:00:00%2B00:00") == ["due"]
    assert_problem(await api.get("/api/v1/tasks?due_before=2027-13-01"), 422, "validation_error", "due_before")
    assert_problem(await api.get("/api/v1/tasks?due_before=2027-03-09T21:00:00"), 422, "validation_error", "due_before")
