"""Clients API: create, read, list, change, delete and restore, with every error the contract names."""

from __future__ import annotations

import uuid

import pytest

from tests.auth import bearer
from tests.factories import assert_problem, make_client, make_deal
from tests.values import MISSING


async def test_create_client_returns_it_with_location_and_etag(api):
    response = await api.post("/api/v1/clients", json={"name": "  Ivanov Ivan  ", "email": "ivan@example.com"})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Ivanov Ivan"  # trimmed
    assert body["status"] == "active"
    assert body["owner_id"] is None
    assert body["version"] == 1
    assert body["is_deleted"] is False
    assert response.headers["location"] == f"/api/v1/clients/{body['id']}"
    assert response.headers["etag"] == '"1"'


async def test_created_by_comes_from_the_caller_not_the_body(api):
    actor = str(uuid.uuid4())
    response = await api.post("/api/v1/clients", json={"name": "A"}, headers=bearer(actor, "admin"))
    assert response.json()["created_by_id"] == actor
    forged = await api.post("/api/v1/clients", json={"name": "A", "created_by_id": actor})
    assert_problem(forged, 422, "validation_error", "created_by_id")


async def test_get_client(api):
    client = await make_client(api)
    response = await api.get(f"/api/v1/clients/{client['id']}")
    assert response.status_code == 200
    assert response.json() == client
    assert response.headers["etag"] == '"1"'


async def test_get_with_current_etag_is_not_modified(api):
    client = await make_client(api)
    response = await api.get(f"/api/v1/clients/{client['id']}", headers={"If-None-Match": '"1"'})
    assert response.status_code == 304


async def test_unknown_client_is_404(api):
    assert_problem(await api.get(f"/api/v1/clients/{MISSING}"), 404, "client_not_found")


async def test_malformed_client_id_is_422_naming_the_path_part(api):
    assert_problem(await api.get("/api/v1/clients/not-a-uuid"), 422, "validation_error", "client_id")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "A\x00B"}, "name"),
        ({"name": 42}, "name"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "email": "a@b.c" + "x" * 260}, "email"),
        ({"name": "A", "phone": "call me"}, "phone"),
        ({"name": "A", "status": "vip"}, "status"),
        ({"name": "A", "owner_id": "bob"}, "owner_id"),
        ({"name": "A", "unknown": 1}, "unknown"),
    ],
)
async def test_invalid_client_input_is_422_naming_the_field(api, body, field):
    response = await api.post("/api/v1/clients", json=body)
    assert_problem(response, 422, "validation_error", field)
    assert (await api.get("/api/v1/clients")).json()["items"] == []


async def test_body_that_is_not_json_is_422(api):
    response = await api.post("/api/v1/clients", content=b"{nope", headers={"content-type": "application/json"})
    assert_problem(response, 422, "validation_error")


async def test_list_clients_newest_first_with_keyset_pages(api):
    ids = [(await make_client(api, name=f"Client {i}"))["id"] for i in range(5)]
    first = await api.get("/api/v1/clients", params={"limit": 2, "with_total": "true"})
    assert first.status_code == 200
    page = first.json()
    assert [c["id"] for c in page["items"]] == ids[::-1][:2]
    assert page["total"] == 5
    seen = [c["id"] for c in page["items"]]
    cursor = page["next_cursor"]
    while cursor:
        page = (await api.get("/api/v1/clients", params={"limit": 2, "cursor": cursor})).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert seen == ids[::-1]


async def test_list_clients_filters(api):
    owner = str(uuid.uuid4())
    mine = await make_client(api, name="Petrov Logistics", owner_id=owner, status="prospect")
    await make_client(api, name="Sidorov Farm", email="farm@example.com", phone="+7 900 000-00-00")

    async def names(**params):
        return [c["name"] for c in (await api.get("/api/v1/clients", params=params)).json()["items"]]

    assert await names(owner_id=owner) == [mine["name"]]
    assert await names(status="prospect") == [mine["name"]]
    assert await names(search="petrov") == [mine["name"]]
    assert await names(search="farm@") == ["Sidorov Farm"]
    assert await names(search="900 000") == ["Sidorov Farm"]
    assert await names(search="%") == []  # wildcards are literal


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": 2**40}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "vip"}, "status"),
        ({"owner_id": "x"}, "owner_id"),
        ({"search": "a\x00"}, "search"),
    ],
)
async def test_invalid_list_parameters_are_422(api, params, field):
    assert_problem(await api.get("/api/v1/clients", params=params), 422, "validation_error", field)


@pytest.mark.parametrize("cursor", ["garbage", "eyJhIjoxfQ", "WyJkZWFscyIsW11d"])
async def test_foreign_or_broken_cursor_is_400(api, cursor):
    assert_problem(await api.get("/api/v1/clients", params={"cursor": cursor}), 400, "invalid_cursor", "cursor")


async def test_cursor_of_another_list_is_refused(api):
    for _ in range(2):
        await make_deal(api)
    deals_cursor = (await api.get("/api/v1/deals", params={"limit": 1})).json()["next_cursor"]
    response = await api.get("/api/v1/clients", params={"cursor": deals_cursor})
    assert_problem(response, 400, "invalid_cursor", "cursor")


async def test_patch_changes_only_given_fields_and_null_clears(api):
    client = await make_client(api, owner_id=str(uuid.uuid4()))
    response = await api.patch(f"/api/v1/clients/{client['id']}", json={"status": "inactive", "owner_id": None})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "inactive"
    assert body["owner_id"] is None
    assert body["name"] == client["name"]
    assert body["email"] == client["email"]
    assert body["version"] == 2
    assert response.headers["etag"] == '"2"'


async def test_patch_that_changes_nothing_keeps_the_version(api):
    client = await make_client(api)
    response = await api.patch(f"/api/v1/clients/{client['id']}", json={"name": client["name"]})
    assert response.status_code == 200
    assert response.json()["version"] == 1


async def test_patch_cannot_clear_a_required_field(api):
    client = await make_client(api)
    response = await api.patch(f"/api/v1/clients/{client['id']}", json={"name": None})
    assert_problem(response, 422, "rule_violation", "name")


async def test_patch_unknown_client_is_404(api):
    assert_problem(await api.patch(f"/api/v1/clients/{MISSING}", json={"name": "A"}), 404, "client_not_found")


async def test_patch_with_invalid_field_is_422(api):
    client = await make_client(api)
    response = await api.patch(f"/api/v1/clients/{client['id']}", json={"email": "nope"})
    assert_problem(response, 422, "validation_error", "email")


async def test_delete_hides_the_client_and_restore_brings_it_back(api):
    client = await make_client(api)
    assert (await api.delete(f"/api/v1/clients/{client['id']}")).status_code == 204
    assert_problem(await api.get(f"/api/v1/clients/{client['id']}"), 404, "client_not_found")
    assert (await api.get("/api/v1/clients")).json()["items"] == []
    assert_problem(await api.delete(f"/api/v1/clients/{client['id']}"), 404, "client_not_found")
    assert_problem(await api.patch(f"/api/v1/clients/{client['id']}", json={"name": "B"}), 404, "client_not_found")

    restored = await api.post(f"/api/v1/clients/{client['id']}/restore")
    assert restored.status_code == 200
    assert restored.json()["is_deleted"] is False
    assert restored.json()["deleted_at"] is None
    assert (await api.get(f"/api/v1/clients/{client['id']}")).status_code == 200


async def test_deleted_by_and_deleted_at_are_recorded(api, db):
    actor = str(uuid.uuid4())
    client = await make_client(api)
    await api.delete(f"/api/v1/clients/{client['id']}", headers=bearer(actor, "admin"))
    row = await db.fetchrow("SELECT deleted_by_id, deleted_at FROM crm.clients WHERE id = $1", uuid.UUID(client["id"]))
    assert str(row["deleted_by_id"]) == actor
    assert row["deleted_at"] is not None


async def test_restore_of_live_client_changes_nothing(api):
    client = await make_client(api)
    response = await api.post(f"/api/v1/clients/{client['id']}/restore")
    assert response.status_code == 200
    assert response.json()["version"] == 1


async def test_restore_unknown_client_is_404(api):
    assert_problem(await api.post(f"/api/v1/clients/{MISSING}/restore"), 404, "client_not_found")


async def test_client_with_open_deals_cannot_be_deleted(api):
    deal = await make_deal(api)
    response = await api.delete(f"/api/v1/clients/{deal['client_id']}")
    assert_problem(response, 409, "client_has_open_deals")
    await api.patch(f"/api/v1/deals/{deal['id']}/stage", json={"stage": "closedLost"})
    assert (await api.delete(f"/api/v1/clients/{deal['client_id']}")).status_code == 204
