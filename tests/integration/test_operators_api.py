"""Operators over HTTP: create, read, list, change, delete and restore; working hours and absences checked on
input with the field named; one live operator per user; only admins and managers change them."""

from __future__ import annotations

import uuid

import pytest

from tests.auth import bearer
from tests.outbox import routing_keys

OPERATORS = "/api/v1/operators"


def operator(**fields: object) -> dict[str, object]:
    return {"user_id": str(uuid.uuid4()), "name": "Anna Petrova", "max_load": 20, **fields}


def fields_of(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {error["field"] for error in response.json().get("errors", [])}


async def test_a_created_operator_is_served_with_its_version_and_load_as_etag_and_is_always_present_by_default(api, db):
    response = await api.post(OPERATORS, json=operator())

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["active"] is True and created["working_hours"] is None and created["absences"] == []
    assert response.headers["ETag"] == '"1-load_0"'  # the version, and the load that moves without it
    assert response.headers["Location"] == f"{OPERATORS}/{created['id']}"
    assert (await api.get(f"{OPERATORS}/{created['id']}")).json() == created
    assert await routing_keys(db) == ["operator.created"]


async def test_working_hours_and_absences_are_kept_in_order_and_absences_in_utc(api):
    hours = {"mon": [{"from": "14:00", "to": "18:00"}, {"from": "09:00", "to": "13:00"}], "sat": []}
    absences = [
        {"starts_at": "2026-12-20T00:00:00+03:00", "ends_at": "2026-12-25T00:00:00+03:00"},
        {"starts_at": "2026-12-10T09:00:00Z", "ends_at": "2026-12-10T18:00:00Z"},
    ]

    created = (await api.post(OPERATORS, json=operator(working_hours=hours, absences=absences))).json()

    assert created["working_hours"]["mon"] == [{"from": "09:00", "to": "13:00"}, {"from": "14:00", "to": "18:00"}]
    assert created["working_hours"]["sat"] == [] and created["working_hours"]["tue"] == []
    assert [a["starts_at"] for a in created["absences"]] == ["2026-12-10T09:00:00Z", "2026-12-19T21:00:00Z"]


@pytest.mark.parametrize(
    ("hours", "field"),
    [
        ({"mon": [{"from": "25:00", "to": "26:00"}]}, "working_hours.mon.0.from"),
        ({"mon": [{"from": "09:00", "to": "09:00"}]}, "working_hours.mon.0.to"),
        ({"tue": [{"from": "18:00", "to": "09:00"}]}, "working_hours.tue.0.to"),
        ({"wed": [{"from": "09:00", "to": "13:00"}, {"from": "12:00", "to": "18:00"}]}, "working_hours.wed"),
        ({"funday": []}, "working_hours.funday"),
    ],
)
async def test_bad_working_hours_are_refused_naming_the_field(api, hours, field):
    response = await api.post(OPERATORS, json=operator(working_hours=hours))

    assert response.status_code == 422, response.text
    assert field in fields_of(response)


async def test_overlapping_or_backwards_absences_are_refused_naming_the_field(api):
    overlapping = [
        {"starts_at": "2026-12-10T09:00:00Z", "ends_at": "2026-12-12T09:00:00Z"},
        {"starts_at": "2026-12-11T09:00:00Z", "ends_at": "2026-12-13T09:00:00Z"},
    ]
    backwards = [{"starts_at": "2026-12-10T09:00:00Z", "ends_at": "2026-12-09T09:00:00Z"}]

    first = await api.post(OPERATORS, json=operator(absences=overlapping))
    second = await api.post(OPERATORS, json=operator(absences=backwards))

    assert first.status_code == 422 and "absences" in fields_of(first)
    assert second.status_code == 422 and "absences.0.ends_at" in fields_of(second)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (operator(name="A\x00B"), "name"),
        (operator(name="x" * 256), "name"),
        (operator(max_load=-1), "max_load"),
        (operator(user_id="not-a-uuid"), "user_id"),
    ],
)
async def test_bad_fields_are_refused_naming_them(api, body, field):
    response = await api.post(OPERATORS, json=body)

    assert response.status_code == 422, response.text
    assert field in fields_of(response)


async def test_a_user_is_one_live_operator_and_a_deleted_one_frees_the_user(api):
    body = operator()
    first = (await api.post(OPERATORS, json=body)).json()

    conflict = await api.post(OPERATORS, json={**body, "name": "Other"})
    assert conflict.status_code == 409 and conflict.json()["code"] == "operator_user_conflict"

    assert (await api.delete(f"{OPERATORS}/{first['id']}")).status_code == 204
    assert (await api.get(f"{OPERATORS}/{first['id']}")).status_code == 404
    assert (await api.post(OPERATORS, json=body)).status_code == 201
    restored = await api.post(f"{OPERATORS}/{first['id']}/restore")
    assert restored.status_code == 409 and restored.json()["code"] == "operator_user_conflict"


async def test_a_patch_changes_named_fields_bumps_the_version_and_honours_if_match(api, db):
    created = await api.post(OPERATORS, json=operator(working_hours={"mon": [{"from": "09:00", "to": "18:00"}]}))
    operator_id = created.json()["id"]

    stale = await api.patch(f"{OPERATORS}/{operator_id}", json={"max_load": 5}, headers={"If-Match": '"7"'})
    changed = await api.patch(
        f"{OPERATORS}/{operator_id}", json={"max_load": 5, "working_hours": None}, headers={"If-Match": '"1"'}
    )

    assert stale.status_code == 412
    assert changed.status_code == 200, changed.text
    assert changed.json()["max_load"] == 5 and changed.json()["working_hours"] is None
    assert changed.json()["version"] == 2 and changed.json()["name"] == "Anna Petrova"
    assert await routing_keys(db) == ["operator.created", "operator.updated"]


async def test_a_patch_that_changes_nothing_is_no_new_version_and_no_event(api, db):
    hours = {"mon": [{"from": "09:00", "to": "18:00"}]}
    operator_id = (await api.post(OPERATORS, json=operator(working_hours=hours))).json()["id"]

    response = await api.patch(f"{OPERATORS}/{operator_id}", json={"working_hours": hours, "max_load": 20})

    assert response.json()["version"] == 1
    assert await routing_keys(db) == ["operator.created"]


async def test_name_and_max_load_cannot_be_cleared(api):
    operator_id = (await api.post(OPERATORS, json=operator())).json()["id"]

    response = await api.patch(f"{OPERATORS}/{operator_id}", json={"name": None, "max_load": None})

    assert response.status_code == 422
    assert fields_of(response) == {"name", "max_load"}


async def test_the_list_is_by_name_filtered_by_active_and_search_and_pages_with_a_cursor(api):
    for name, active in [("Boris", True), ("Anna", True), ("Vera", False), ("Annette", False)]:
        await api.post(OPERATORS, json=operator(name=name, active=active))

    everyone = (await api.get(OPERATORS)).json()
    active = (await api.get(OPERATORS, params={"active": "true"})).json()
    searched = (await api.get(OPERATORS, params={"search": "ann"})).json()
    first = (await api.get(OPERATORS, params={"limit": 3})).json()
    rest = (await api.get(OPERATORS, params={"limit": 3, "cursor": first["next_cursor"]})).json()

    assert [o["name"] for o in everyone["items"]] == ["Anna", "Annette", "Boris", "Vera"]
    assert [o["name"] for o in active["items"]] == ["Anna", "Boris"]
    assert [o["name"] for o in searched["items"]] == ["Anna", "Annette"]
    assert [o["name"] for o in first["items"] + rest["items"]] == ["Anna", "Annette", "Boris", "Vera"]
    assert rest["next_cursor"] is None


async def test_a_retried_create_with_the_same_idempotency_key_returns_the_first_operator(api):
    body = operator()
    headers = {"Idempotency-Key": f"op-{uuid.uuid4()}"}

    first = await api.post(OPERATORS, json=body, headers=headers)
    again = await api.post(OPERATORS, json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]


async def test_delete_and_restore_are_events_and_a_restore_of_a_live_operator_changes_nothing(api, db):
    operator_id = (await api.post(OPERATORS, json=operator())).json()["id"]

    live = await api.post(f"{OPERATORS}/{operator_id}/restore")
    await api.delete(f"{OPERATORS}/{operator_id}")
    restored = await api.post(f"{OPERATORS}/{operator_id}/restore")

    assert live.status_code == 200 and live.json()["version"] == 1
    assert restored.status_code == 200 and restored.json()["version"] == 3
    assert await routing_keys(db) == ["operator.created", "operator.deleted", "operator.restored"]


async def test_an_unknown_operator_is_not_found(api):
    response = await api.get(f"{OPERATORS}/{uuid.uuid4()}")

    assert response.status_code == 404 and response.json()["code"] == "operator_not_found"


@pytest.mark.parametrize("role", ["ROLE_SELLER", "ROLE_EXECUTOR", "ROLE_USER"])
async def test_anyone_signed_in_reads_operators_but_only_admins_and_managers_change_them(api, role):
    operator_id = (await api.post(OPERATORS, json=operator())).json()["id"]
    user = bearer(uuid.uuid4(), role)
    manager = bearer(uuid.uuid4(), "ROLE_MANAGER")

    assert (await api.get(f"{OPERATORS}/{operator_id}", headers=user)).status_code == 200
    assert (await api.get(OPERATORS, headers=user)).status_code == 200
    assert (await api.post(OPERATORS, json=operator(), headers=user)).status_code == 403
    assert (await api.patch(f"{OPERATORS}/{operator_id}", json={"max_load": 1}, headers=user)).status_code == 403
    assert (await api.delete(f"{OPERATORS}/{operator_id}", headers=user)).status_code == 403
    assert (await api.patch(f"{OPERATORS}/{operator_id}", json={"max_load": 1}, headers=manager)).status_code == 200


async def test_a_patch_with_absences_replaces_the_whole_list_and_refuses_overlaps(api):
    first = {"starts_at": "2026-12-10T09:00:00Z", "ends_at": "2026-12-11T09:00:00Z"}
    second = {"starts_at": "2027-01-10T09:00:00Z", "ends_at": "2027-01-11T09:00:00Z"}
    operator_id = (await api.post(OPERATORS, json=operator(absences=[first]))).json()["id"]

    replaced = await api.patch(f"{OPERATORS}/{operator_id}", json={"absences": [second]})
    overlapping = await api.patch(f"{OPERATORS}/{operator_id}", json={"absences": [second, second]})

    assert replaced.status_code == 200 and replaced.json()["absences"] == [second]
    assert overlapping.status_code == 422 and "absences" in fields_of(overlapping)
    assert (await api.get(f"{OPERATORS}/{operator_id}")).json()["absences"] == [second]
