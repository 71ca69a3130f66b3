"""Notification templates over HTTP: create, read, change, delete and restore; conflicts and bodies that do not
compile are refused with the field named."""

from __future__ import annotations

import uuid

from tests.auth import bearer

TEMPLATES = "/api/v1/templates"


def template(**fields: object) -> dict[str, object]:
    return {
        "key": f"test.{uuid.uuid4().hex[:8]}",
        "channel": "telegram",
        "locale": "en-US",
        "body": "Hello {{ name }}",
        **fields,
    }


async def test_a_created_template_is_served_with_its_version_as_etag(api):
    response = await api.post(TEMPLATES, json=template(metadata={"owner": "sales"}))

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "active" and created["metadata"] == {"owner": "sales"} and created["version"] == 1
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"{TEMPLATES}/{created['id']}"
    fetched = await api.get(f"{TEMPLATES}/{created['id']}")
    assert fetched.json() == created


async def test_a_template_without_locale_gets_the_default_locale(api):
    body = template()
    del body["locale"]

    created = (await api.post(TEMPLATES, json=body)).json()

    assert created["locale"] == "ru-RU"


async def test_a_body_that_does_not_compile_is_refused_naming_body(api):
    response = await api.post(TEMPLATES, json=template(body="Hello {{ name "))

    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == "body"


async def test_a_patch_with_a_body_that_does_not_compile_is_refused_and_changes_nothing(api):
    created = (await api.post(TEMPLATES, json=template())).json()

    response = await api.patch(f"{TEMPLATES}/{created['id']}", json={"body": "{% for x in %}"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
    assert (await api.get(f"{TEMPLATES}/{created['id']}")).json()["version"] == 1


async def test_a_second_live_template_for_the_same_key_channel_and_locale_is_a_conflict(api):
    first = template()
    await api.post(TEMPLATES, json=first)

    response = await api.post(TEMPLATES, json={**first, "body": "Other"})

    assert response.status_code == 409
    assert response.json()["code"] == "template_conflict"


async def test_a_deleted_template_frees_its_key_and_cannot_be_restored_over_its_successor(api):
    first = template()
    created = (await api.post(TEMPLATES, json=first)).json()
    assert (await api.delete(f"{TEMPLATES}/{created['id']}")).status_code == 204
    assert (await api.get(f"{TEMPLATES}/{created['id']}")).status_code == 404

    assert (await api.post(TEMPLATES, json=first)).status_code == 201
    restored = await api.post(f"{TEMPLATES}/{created['id']}/restore")

    assert restored.status_code == 409
    assert restored.json()["code"] == "template_conflict"


async def test_a_deleted_template_is_restored(api):
    created = (await api.post(TEMPLATES, json=template())).json()
    await api.delete(f"{TEMPLATES}/{created['id']}")

    restored = await api.post(f"{TEMPLATES}/{created['id']}/restore")

    assert restored.status_code == 200
    assert restored.json()["is_deleted"] is False


async def test_a_stale_if_match_is_refused(api):
    created = (await api.post(TEMPLATES, json=template())).json()
    await api.patch(f"{TEMPLATES}/{created['id']}", json={"body": "v2"})

    response = await api.patch(f"{TEMPLATES}/{created['id']}", json={"body": "v3"}, headers={"If-Match": '"1"'})

    assert response.status_code == 412


async def test_the_list_filters_by_key_channel_and_status(api):
    key = f"test.{uuid.uuid4().hex[:8]}"
    await api.post(TEMPLATES, json=template(key=key, channel="telegram"))
    await api.post(TEMPLATES, json=template(key=key, channel="sse", status="inactive"))

    page = (await api.get(TEMPLATES, params={"key": key, "status": "inactive"})).json()

    assert [(t["channel"], t["status"]) for t in page["items"]] == [("sse", "inactive")]


async def test_anyone_signed_in_reads_templates_but_only_admins_and_managers_change_them(api):
    seller = bearer(uuid.uuid4(), "seller")
    manager = bearer(uuid.uuid4(), "manager")

    assert (await api.post(TEMPLATES, json=template(), headers=seller)).status_code == 403
    created = await api.post(TEMPLATES, json=template(), headers=manager)
    assert created.status_code == 201
    assert (await api.get(f"{TEMPLATES}/{created.json()['id']}", headers=seller)).status_code == 200
    assert (
        await api.patch(f"{TEMPLATES}/{created.json()['id']}", json={"body": "x"}, headers=seller)
    ).status_code == 403


async def test_template_changes_are_events(api, db):
    created = (await api.post(TEMPLATES, json=template())).json()
    await api.patch(f"{TEMPLATES}/{created['id']}", json={"body": "v2"})
    await api.delete(f"{TEMPLATES}/{created['id']}")
    await api.post(f"{TEMPLATES}/{created['id']}/restore")

    keys = await db.fetch(
        "SELECT routing_key FROM crm.outbox WHERE aggregate_id = $1 ORDER BY id", uuid.UUID(created["id"])
    )

    assert [row["routing_key"] for row in keys] == [
        "template.created",
        "template.updated",
        "template.deleted",
        "template.restored",
    ]
