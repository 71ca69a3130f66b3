"""Deal journal API: append-only notes, oldest first, paginated; the author is the caller."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from tests.auth import bearer
from tests.factories import assert_problem, make_deal
from tests.outbox import event_data, outbox_rows, routing_keys
from tests.values import MISSING


def journal(deal_id: str) -> str:
    return f"/api/v1/deals/{deal_id}/journal"


async def test_append_a_note_as_the_caller(api):
    deal = await make_deal(api)
    author = str(uuid.uuid4())
    response = await api.post(journal(deal["id"]), json={"body": "Called the client."}, headers=bearer(author, "admin"))
    assert response.status_code == 201
    entry = response.json()
    assert set(entry) == {"id", "deal_id", "author_id", "body", "created_at"}
    assert (entry["deal_id"], entry["author_id"], entry["body"]) == (deal["id"], author, "Called the client.")
    assert entry["created_at"]


async def test_a_note_without_a_token_is_refused_and_not_kept(api, anonymous, db):
    deal = await make_deal(api)
    response = await anonymous.post(journal(deal["id"]), json={"body": "Anonymous"})
    assert_problem(response, 401, "invalid_token")
    assert await db.fetchval("SELECT count(*) FROM crm.deal_journal") == 0


async def test_the_author_cannot_be_given_in_the_body(api):
    deal = await make_deal(api)
    response = await api.post(journal(deal["id"]), json={"body": "x", "author_id": str(uuid.uuid4())})
    assert_problem(response, 422, "validation_error", "author_id")


async def test_a_token_whose_subject_is_not_a_user_id_is_401(api):
    deal = await make_deal(api)
    response = await api.post(journal(deal["id"]), json={"body": "x"}, headers=bearer("not-a-uuid", "admin"))
    assert_problem(response, 401, "invalid_token")


async def test_surrounding_whitespace_is_trimmed_and_5000_characters_fit(api):
    deal = await make_deal(api)
    response = await api.post(journal(deal["id"]), json={"body": "\n  note  \n"})
    assert response.json()["body"] == "note"
    response = await api.post(journal(deal["id"]), json={"body": "n" * 5000})
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"body": ""},
        {"body": "   \n"},
        {"body": "n" * 5001},
        {"body": "bad\x00body"},
        {"body": None},
        {"body": 2**40},
        {"body": ["a"]},
    ],
)
async def test_invalid_note_is_422_naming_body(api, body):
    deal = await make_deal(api)
    response = await api.post(journal(deal["id"]), json=body)
    assert_problem(response, 422, "validation_error", "body")
    assert (await api.get(journal(deal["id"]))).json()["items"] == []


async def test_unknown_fields_are_refused(api):
    deal = await make_deal(api)
    response = await api.post(journal(deal["id"]), json={"body": "x", "pinned": True})
    assert_problem(response, 422, "validation_error", "pinned")


async def test_not_json_is_422(api):
    deal = await make_deal(api)
    response = await api.post(journal(deal["id"]), content=b"{not json", headers={"Content-Type": "application/json"})
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize("method", ["get", "post"])
async def test_unknown_deal_is_404(api, method):
    kwargs = {"json": {"body": "x"}} if method == "post" else {}
    response = await getattr(api, method)(journal(MISSING), **kwargs)
    assert_problem(response, 404, "deal_not_found")


@pytest.mark.parametrize("method", ["get", "post"])
async def test_deleted_deal_is_404(api, method):
    deal = await make_deal(api)
    await api.post(journal(deal["id"]), json={"body": "before the delete"})
    assert (await api.delete(f"/api/v1/deals/{deal['id']}")).status_code == 204
    kwargs = {"json": {"body": "x"}} if method == "post" else {}
    response = await getattr(api, method)(journal(deal["id"]), **kwargs)
    assert_problem(response, 404, "deal_not_found")


async def test_notes_come_back_after_the_deal_is_restored(api):
    deal = await make_deal(api)
    await api.post(journal(deal["id"]), json={"body": "kept"})
    await api.delete(f"/api/v1/deals/{deal['id']}")
    await api.post(f"/api/v1/deals/{deal['id']}/restore")
    assert [e["body"] for e in (await api.get(journal(deal["id"]))).json()["items"]] == ["kept"]


async def test_malformed_deal_id_is_422(api):
    assert_problem(await api.get(journal("nope")), 422, "validation_error", "deal_id")


@pytest.mark.parametrize("method", ["patch", "delete", "put"])
async def test_the_journal_is_append_only(api, method):
    deal = await make_deal(api)
    kwargs = {"json": {"body": "x"}} if method != "delete" else {}
    response = await getattr(api, method)(journal(deal["id"]), **kwargs)
    assert_problem(response, 405, "method_not_allowed")


async def test_entries_are_listed_oldest_first_and_paginated(api):
    deal = await make_deal(api)
    other = await make_deal(api, client_id=deal["client_id"])
    await api.post(journal(other["id"]), json={"body": "other deal"})
    for n in range(5):
        assert (await api.post(journal(deal["id"]), json={"body": f"note {n}"})).status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, "with_total": "true"}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get(journal(deal["id"]), params=params)).json()
        assert page["total"] == 5
        seen += [e["body"] for e in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"note {n}" for n in range(5)]
    assert pages == 3


async def test_total_is_left_out_unless_asked(api):
    deal = await make_deal(api)
    assert (await api.get(journal(deal["id"]))).json() == {"items": [], "next_cursor": None, "total": None}


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJ0YXNrcyIsW11d"])
async def test_bad_cursor_is_400(api, cursor):
    deal = await make_deal(api)
    assert_problem(await api.get(journal(deal["id"]), params={"cursor": cursor}), 400, "invalid_cursor", "cursor")


@pytest.mark.parametrize("limit", [0, 201, 2**40, "x"])
async def test_bad_limit_is_422(api, limit):
    deal = await make_deal(api)
    assert_problem(await api.get(journal(deal["id"]), params={"limit": limit}), 422, "validation_error", "limit")


async def test_append_records_deal_journal_appended(api, db):
    deal = await make_deal(api)
    author = str(uuid.uuid4())
    entry = (await api.post(journal(deal["id"]), json={"body": "Quote sent"}, headers=bearer(author, "admin"))).json()
    rows = await outbox_rows(db)
    assert [r["routing_key"] for r in rows] == ["client.created", "deal.created", "deal.journal.appended"]
    row = rows[-1]
    assert (row["aggregate_type"], str(row["aggregate_id"])) == ("deal", deal["id"])
    assert event_data(row) == {
        "deal_id": deal["id"],
        "entry_id": entry["id"],
        "author_id": author,
        "body": "Quote sent",
        "created_at": entry["created_at"],
    }


async def test_refused_appends_record_nothing(api, db):
    deal = await make_deal(api)
    before = await outbox_rows(db)
    await api.post(journal(MISSING), json={"body": "x"})
    await api.post(journal(deal["id"]), json={"body": ""})
    assert await outbox_rows(db) == before
    assert await db.fetchval("SELECT count(*) FROM crm.deal_journal") == 0


async def test_a_retried_append_with_the_same_idempotency_key_adds_one_note(api, db):
    deal = await make_deal(api)
    headers = {"Idempotency-Key": "note-1"}
    first = await api.post(journal(deal["id"]), json={"body": "once"}, headers=headers)
    again = await api.post(journal(deal["id"]), json={"body": "once"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await db.fetchval("SELECT count(*) FROM crm.deal_journal") == 1
    keys = await routing_keys(db)
    assert keys.count("deal.journal.appended") == 1


async def test_an_append_waits_for_a_concurrent_delete_and_then_refuses(api, database_url):
    deal = await make_deal(api)
    deleter = await asyncpg.connect(database_url)
    try:
        transaction = deleter.transaction()
        await transaction.start()
        # What DELETE /deals/{id} does: lock the deal, then mark it deleted.
        await deleter.execute("SELECT 1 FROM crm.deals WHERE id = $1 FOR UPDATE", uuid.UUID(deal["id"]))
        await deleter.execute("UPDATE crm.deals SET is_deleted = true WHERE id = $1", uuid.UUID(deal["id"]))
        append = asyncio.create_task(api.post(journal(deal["id"]), json={"body": "racing the delete"}))
        await asyncio.sleep(0.3)
        assert not append.done()  # blocked on the deal's lock
        await transaction.commit()
        response = await append
    finally:
        await deleter.close()
    assert_problem(response, 404, "deal_not_found")
