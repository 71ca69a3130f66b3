"""An Idempotency-Key's answer commits with the change it answers for: nothing after the commit can lose it."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from crm.api.deps import post_answer
from crm.infrastructure.db.uow import PgUnitOfWork
from tests.auth import admin
from tests.factories import make_client, make_deal
from tests.routes import api_routes


async def test_the_answer_is_stored_in_the_transaction_of_the_change(api, db):
    response = await api.post("/api/v1/clients", json={"name": "Acme"}, headers={"Idempotency-Key": "acme-1"})
    assert response.status_code == 201

    row = await db.fetchrow("SELECT response_status, response_headers, response_body FROM crm.idempotency_keys")
    assert row["response_status"] == 201
    assert json.loads(row["response_body"]) == response.json()
    assert json.loads(row["response_headers"]) == {
        "content-type": "application/json",
        "etag": response.headers["etag"],
        "location": response.headers["location"],
    }


async def test_an_answer_lost_after_the_commit_is_replayed_not_refused(app, db, monkeypatch):
    """The change commits, then the request fails (here: handing the connection back breaks): a retry with the
    same key gets the first answer, where it used to be told for 24 hours that the key was in use."""
    leave = PgUnitOfWork.__aexit__

    async def leave_then_fail(self: PgUnitOfWork, *exc_info):  # type: ignore[no-untyped-def]
        await leave(self, *exc_info)
        raise ConnectionResetError("the connection broke after the commit")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test", headers=admin()) as api:
        deal = await make_deal(api)
        body = {"client_id": deal["client_id"], "title": "Retried", "next_review_at": "2027-01-10"}
        headers = {"Idempotency-Key": "lost-answer"}
        with monkeypatch.context() as patch:
            patch.setattr(PgUnitOfWork, "__aexit__", leave_then_fail)
            assert (await api.post("/api/v1/deals", json=body, headers=headers)).status_code >= 500

        retry = await api.post("/api/v1/deals", json=body, headers=headers)

    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    stored = await db.fetch("SELECT id FROM crm.deals WHERE title = 'Retried'")
    assert [str(row["id"]) for row in stored] == [retry.json()["id"]]
    assert retry.headers["location"] == f"/api/v1/deals/{retry.json()['id']}"


async def test_a_change_that_rolls_back_leaves_no_key(api, db):
    client = await make_client(api)
    await api.delete(f"/api/v1/clients/{client['id']}")
    response = await api.post(
        "/api/v1/deals",
        json={"client_id": client["id"], "title": "T", "next_review_at": "2027-01-10"},
        headers={"Idempotency-Key": "refused"},
    )
    assert response.status_code == 404
    assert await db.fetchval("SELECT count(*) FROM crm.idempotency_keys") == 0


@pytest.mark.parametrize("path", ["/api/v1/clients/{id}/restore", "/api/v1/deals/{id}/restore"])
async def test_a_restore_that_changes_nothing_answers_again_without_a_key(api, db, path):
    deal = await make_deal(api)
    record_id = deal["client_id"] if "clients" in path else deal["id"]
    headers = {"Idempotency-Key": f"noop-{uuid.uuid4()}"}
    first = await api.post(path.format(id=record_id), headers=headers)
    again = await api.post(path.format(id=record_id), headers=headers)
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in again.headers
    assert await db.fetchval("SELECT count(*) FROM crm.idempotency_keys") == 0


async def test_every_post_route_answers_through_post_answer(app):
    """``post_answer`` reads the Idempotency-Key and renders the answer the unit of work stores."""
    posts = [route.original_route for route in api_routes(app.routes) if "POST" in route.methods]
    assert len(posts) >= 20
    for route in posts:
        dependencies = {dependency.call for dependency in route.dependant.dependencies}
        assert post_answer in dependencies, f"{route.path} does not take its answer from post_answer"
