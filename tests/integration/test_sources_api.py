"""Sources and their operator weights over HTTP: CRUD of sources with unique live names; a weights PUT replaces
the source's weights all or nothing, naming the item at fault."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.auth import bearer
from tests.outbox import event_data, outbox_rows, routing_keys

SOURCES = "/api/v1/sources"
OPERATORS = "/api/v1/operators"


def source(**fields: object) -> dict[str, object]:
    return {"name": f"Source {uuid.uuid4().hex[:8]}", "channel": "telegram", **fields}


async def new_operator(api) -> str:  # type: ignore[no-untyped-def]
    body = {"user_id": str(uuid.uuid4()), "name": "Operator", "max_load": 10}
    response = await api.post(OPERATORS, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def new_source(api, **fields: object) -> str:  # type: ignore[no-untyped-def]
    response = await api.post(SOURCES, json=source(**fields))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def fields_of(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {error["field"] for error in response.json().get("errors", [])}


async def test_a_created_source_is_active_and_sticky_by_default(api, db):
    response = await api.post(SOURCES, json=source(channel="web"))

    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["channel"], created["active"], created["sticky"]) == ("web", True, True)
    assert response.headers["ETag"] == '"1"'
    assert (await api.get(f"{SOURCES}/{created['id']}")).json() == created
    assert await routing_keys(db) == ["source.created"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (source(channel="fax"), "channel"),
        (source(name="bad\x00name"), "name"),
        (source(name="x" * 256), "name"),
        (source(name="   "), "name"),
        (source(sticky="maybe"), "sticky"),
    ],
)
async def test_bad_fields_are_refused_naming_them(api, body, field):
    response = await api.post(SOURCES, json=body)

    assert response.status_code == 422, response.text
    assert field in fields_of(response)


async def test_a_name_is_one_live_source_and_a_deleted_one_frees_it(api):
    body = source()
    first = (await api.post(SOURCES, json=body)).json()

    conflict = await api.post(SOURCES, json={**body, "channel": "email"})
    assert conflict.status_code == 409 and conflict.json()["code"] == "source_name_conflict"

    assert (await api.delete(f"{SOURCES}/{first['id']}")).status_code == 204
    assert (await api.post(SOURCES, json=body)).status_code == 201
    restored = await api.post(f"{SOURCES}/{first['id']}/restore")
    assert restored.status_code == 409 and restored.json()["code"] == "source_name_conflict"


async def test_a_patch_changes_named_fields_and_a_stale_version_is_refused(api, db):
    source_id = await new_source(api)

    changed = await api.patch(f"{SOURCES}/{source_id}", json={"sticky": False, "active": False})
    stale = await api.patch(f"{SOURCES}/{source_id}", json={"channel": "phone"}, headers={"If-Match": '"1"'})

    assert changed.status_code == 200 and changed.json()["sticky"] is False and changed.json()["version"] == 2
    assert stale.status_code == 412
    assert await routing_keys(db) == ["source.created", "source.updated"]


async def test_the_list_filters_by_active_channel_and_search(api):
    await new_source(api, name="Bot", channel="telegram")
    await new_source(api, name="Site form", channel="web")
    await new_source(api, name="Partner A", channel="partner", active=False)

    assert [s["name"] for s in (await api.get(SOURCES)).json()["items"]] == ["Bot", "Partner A", "Site form"]
    assert [s["name"] for s in (await api.get(SOURCES, params={"active": "false"})).json()["items"]] == ["Partner A"]
    assert [s["name"] for s in (await api.get(SOURCES, params={"channel": "web"})).json()["items"]] == ["Site form"]
    assert [s["name"] for s in (await api.get(SOURCES, params={"search": "BO"})).json()["items"]] == ["Bot"]


async def test_delete_and_restore_are_events(api, db):
    source_id = await new_source(api)

    await api.delete(f"{SOURCES}/{source_id}")
    gone = await api.get(f"{SOURCES}/{source_id}")
    restored = await api.post(f"{SOURCES}/{source_id}/restore")

    assert gone.status_code == 404 and gone.json()["code"] == "source_not_found"
    assert restored.status_code == 200 and restored.json()["is_deleted"] is False
    assert await routing_keys(db) == ["source.created", "source.deleted", "source.restored"]


async def test_weights_are_replaced_as_a_whole_and_served_by_operator(api, db):
    source_id = await new_source(api)
    a, b, c = sorted([await new_operator(api) for _ in range(3)])
    await api.put(f"{SOURCES}/{source_id}/weights", json=[{"operator_id": a, "weight": 1}])

    response = await api.put(
        f"{SOURCES}/{source_id}/weights", json=[{"operator_id": c, "weight": 0}, {"operator_id": b, "weight": 3}]
    )

    assert response.status_code == 200, response.text
    expected = [{"operator_id": b, "weight": 3}, {"operator_id": c, "weight": 0}]
    assert response.json() == expected
    assert (await api.get(f"{SOURCES}/{source_id}/weights")).json() == expected
    events = await outbox_rows(db, routing_key="source.weights.replaced", aggregate_id=source_id)
    assert len(events) == 2


async def test_a_weights_replacement_is_an_event_of_the_source_with_the_new_weights(api, db):
    source_id = await new_source(api)
    operator_id = await new_operator(api)

    await api.put(f"{SOURCES}/{source_id}/weights", json=[{"operator_id": operator_id, "weight": 2}])

    [row] = await outbox_rows(db, routing_key="source.weights.replaced")
    assert str(row["aggregate_id"]) == source_id
    assert event_data(row) == {"source_id": source_id, "weights": [{"operator_id": operator_id, "weight": 2}]}


async def test_an_empty_list_removes_every_weight(api):
    source_id = await new_source(api)
    operator_id = await new_operator(api)
    await api.put(f"{SOURCES}/{source_id}/weights", json=[{"operator_id": operator_id, "weight": 2}])

    response = await api.put(f"{SOURCES}/{source_id}/weights", json=[])

    assert response.status_code == 200 and response.json() == []
    assert (await api.get(f"{SOURCES}/{source_id}/weights")).json() == []


async def test_an_unknown_operator_leaves_the_old_weights_and_is_named(api, db):
    source_id = await new_source(api)
    operator_id = await new_operator(api)
    old = [{"operator_id": operator_id, "weight": 5}]
    await api.put(f"{SOURCES}/{source_id}/weights", json=old)

    response = await api.put(
        f"{SOURCES}/{source_id}/weights",
        json=[{"operator_id": operator_id, "weight": 1}, {"operator_id": str(uuid.uuid4()), "weight": 1}],
    )

    assert response.status_code == 404 and response.json()["code"] == "operator_not_found"
    assert fields_of(response) == {"1.operator_id"}
    assert (await api.get(f"{SOURCES}/{source_id}/weights")).json() == old
    assert len(await outbox_rows(db, routing_key="source.weights.replaced")) == 1


async def test_a_deleted_operator_cannot_be_weighted_and_their_weights_hide_until_restored(api):
    source_id = await new_source(api)
    kept, leaving = await new_operator(api), await new_operator(api)
    weights = sorted(
        [{"operator_id": kept, "weight": 1}, {"operator_id": leaving, "weight": 2}], key=lambda w: w["operator_id"]
    )
    await api.put(f"{SOURCES}/{source_id}/weights", json=weights)

    await api.delete(f"{OPERATORS}/{leaving}")
    hidden = (await api.get(f"{SOURCES}/{source_id}/weights")).json()
    refused = await api.put(f"{SOURCES}/{source_id}/weights", json=[{"operator_id": leaving, "weight": 1}])
    await api.post(f"{OPERATORS}/{leaving}/restore")

    assert hidden == [{"operator_id": kept, "weight": 1}]
    assert refused.status_code == 404 and fields_of(refused) == {"0.operator_id"}
    assert (await api.get(f"{SOURCES}/{source_id}/weights")).json() == weights


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"weight": -1}, "1.weight"),
        ({"weight": 1.5}, "1.weight"),
        ({"weight": "heavy"}, "1.weight"),
        ({"operator_id": "nope"}, "1.operator_id"),
    ],
)
async def test_a_bad_item_leaves_the_old_weights_and_is_named(api, item, field):
    source_id = await new_source(api)
    operator_id = await new_operator(api)
    old = [{"operator_id": operator_id, "weight": 5}]
    await api.put(f"{SOURCES}/{source_id}/weights", json=old)

    response = await api.put(
        f"{SOURCES}/{source_id}/weights",
        json=[{"operator_id": operator_id, "weight": 1}, {"operator_id": str(uuid.uuid4()), "weight": 1, **item}],
    )

    assert response.status_code == 422, response.text
    assert field in fields_of(response)
    assert (await api.get(f"{SOURCES}/{source_id}/weights")).json() == old


async def test_an_operator_named_twice_is_refused_naming_the_repeat(api):
    source_id = await new_source(api)
    operator_id = await new_operator(api)

    response = await api.put(
        f"{SOURCES}/{source_id}/weights",
        json=[{"operator_id": operator_id, "weight": 1}, {"operator_id": operator_id, "weight": 2}],
    )

    assert response.status_code == 422
    assert fields_of(response) == {"1.operator_id"}


async def test_weights_of_an_unknown_or_deleted_source_are_not_found(api):
    source_id = await new_source(api)
    await api.delete(f"{SOURCES}/{source_id}")

    for missing in (source_id, str(uuid.uuid4())):
        read = await api.get(f"{SOURCES}/{missing}/weights")
        written = await api.put(f"{SOURCES}/{missing}/weights", json=[])
        assert read.status_code == written.status_code == 404
        assert read.json()["code"] == written.json()["code"] == "source_not_found"


async def test_concurrent_replacements_leave_exactly_one_of_the_lists(api):
    source_id = await new_source(api)
    operators = sorted([await new_operator(api) for _ in range(4)])
    lists = [[{"operator_id": o, "weight": n} for o in operators[n % 2 :: 2]] for n in range(1, 9)]

    answers = await asyncio.gather(*(api.put(f"{SOURCES}/{source_id}/weights", json=w) for w in lists))

    assert all(answer.status_code == 200 for answer in answers)
    assert (await api.get(f"{SOURCES}/{source_id}/weights")).json() in lists


@pytest.mark.parametrize("role", ["ROLE_SELLER", "ROLE_EXECUTOR"])
async def test_anyone_signed_in_reads_sources_and_weights_but_only_admins_and_managers_change_them(api, role):
    source_id = await new_source(api)
    user = bearer(uuid.uuid4(), role)
    manager = bearer(uuid.uuid4(), "ROLE_MANAGER")

    assert (await api.get(f"{SOURCES}/{source_id}", headers=user)).status_code == 200
    assert (await api.get(f"{SOURCES}/{source_id}/weights", headers=user)).status_code == 200
    assert (await api.post(SOURCES, json=source(), headers=user)).status_code == 403
    assert (await api.put(f"{SOURCES}/{source_id}/weights", json=[], headers=user)).status_code == 403
    assert (await api.patch(f"{SOURCES}/{source_id}", json={"active": False}, headers=user)).status_code == 403
    assert (await api.put(f"{SOURCES}/{source_id}/weights", json=[], headers=manager)).status_code == 200


async def test_booleans_are_not_numbers_and_numbers_are_not_booleans(api):
    source_id = await new_source(api)
    operator_id = await new_operator(api)

    sticky = await api.patch(f"{SOURCES}/{source_id}", json={"sticky": 0})
    weight = await api.put(f"{SOURCES}/{source_id}/weights", json=[{"operator_id": operator_id, "weight": True}])

    assert sticky.status_code == 422 and fields_of(sticky) == {"sticky"}
    assert weight.status_code == 422 and fields_of(weight) == {"0.weight"}
