"""A user's contacts (GET/PUT /users/{id}/contacts): how occasions reach them, set by them or an admin."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.auth import bearer
from tests.factories import assert_problem

USER = uuid.UUID("5d0c4a8e-8b5f-4d6a-9f3e-2c1b0a9d8e7f")
URL = f"/api/v1/users/{USER}/contacts"


def me(*roles: str) -> dict[str, str]:
    return bearer(USER, *(roles or ("seller",)))


async def test_a_user_without_contacts_has_none_to_read(api):
    assert_problem(await api.get(URL, headers=me()), 404, "contacts_not_found")


async def test_a_first_put_creates_the_contacts_and_a_second_replaces_them(api):
    created = await api.put(URL, json={"telegramId": "123456789", "preferredChannel": "telegram"}, headers=me())
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in ("user_id", "telegram_id", "preferred_channel", "locale", "version")} == {
        "user_id": str(USER),
        "telegram_id": "123456789",
        "preferred_channel": "telegram",
        "locale": None,
        "version": 1,
    }
    assert created.headers["ETag"] == '"1"'

    replaced = await api.put(URL, json={"locale": "ru-RU"}, headers=me())
    assert replaced.status_code == 200, replaced.text
    # PUT replaces the whole record: what was not sent takes its default.
    assert {k: replaced.json()[k] for k in ("telegram_id", "preferred_channel", "locale", "version")} == {
        "telegram_id": None,
        "preferred_channel": "sse",
        "locale": "ru-RU",
        "version": 2,
    }
    read = await api.get(URL, headers=me())
    assert (read.status_code, read.json(), read.headers["ETag"]) == (200, replaced.json(), '"2"')
    assert (await api.get(URL, headers={**me(), "If-None-Match": '"2"'})).status_code == 304


async def test_a_put_changing_nothing_keeps_the_version(api):
    body = {"telegram_id": "@broker_bot_chat", "preferred_channel": "sse"}
    await api.put(URL, json=body, headers=me())
    again = await api.put(URL, json=body, headers=me())
    assert (again.status_code, again.json()["version"]) == (200, 1)


async def test_if_match_guards_against_a_concurrent_change(api):
    assert_problem(await api.put(URL, json={}, headers={**me(), "If-Match": '"1"'}), 412, "precondition_failed")
    await api.put(URL, json={}, headers=me())
    assert (await api.put(URL, json={"locale": "en"}, headers={**me(), "If-Match": '"1"'})).status_code == 200
    stale = await api.put(URL, json={"locale": "de"}, headers={**me(), "If-Match": '"1"'})
    assert_problem(stale, 412, "precondition_failed")
    assert stale.headers["ETag"] == '"2"'


async def test_two_racing_first_puts_end_as_one_record(api, db):
    answers = await asyncio.gather(*(api.put(URL, json={"locale": "en"}, headers=me()) for _ in range(5)))
    assert sorted(a.status_code for a in answers).count(201) == 1
    assert {a.status_code for a in answers} <= {200, 201}
    assert await db.fetchval("SELECT count(*) FROM crm.user_contacts") == 1


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"preferred_channel": "telegram"}, "telegram_id_required", "telegram_id"),
        ({"preferred_channel": "email"}, "validation_error", "preferred_channel"),
        ({"telegram_id": "not a chat"}, "validation_error", "telegram_id"),
        ({"telegram_id": ""}, "validation_error", "telegram_id"),
        ({"locale": "Russian"}, "validation_error", "locale"),
        ({"nickname": "x"}, "validation_error", "nickname"),
    ],
)
async def test_bad_contacts_are_refused_naming_the_field(api, db, body, code, field):
    assert_problem(await api.put(URL, json=body, headers=me()), 422, code, field)
    assert await db.fetchval("SELECT count(*) FROM crm.user_contacts") == 0


async def test_admins_set_anyones_contacts_managers_only_read_them_and_others_neither(api):
    other = bearer(uuid.uuid4(), "seller")
    assert_problem(await api.put(URL, json={}, headers=other), 403, "forbidden")
    assert_problem(await api.get(URL, headers=other), 403, "forbidden")
    manager = bearer(uuid.uuid4(), "ROLE_MANAGER")
    assert_problem(await api.put(URL, json={}, headers=manager), 403, "forbidden")
    assert (await api.put(URL, json={"locale": "en"})).status_code == 201  # the api client is an admin
    read = await api.get(URL, headers=manager)
    assert (read.status_code, read.json()["updated_by_id"]) == (200, "00000000-0000-4000-8000-00000000ad31")
