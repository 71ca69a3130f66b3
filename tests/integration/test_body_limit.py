"""A request body over CRM_MAX_BODY_BYTES is a 413 problem, declared or streamed, and nothing of it is handled.

Over real HTTP (uvicorn in this event loop): a streamed body arrives in chunks, as it would from a client.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.auth import admin
from tests.factories import assert_problem, make_client
from tests.messaging.support import served_app

LIMIT = 4096


@pytest.fixture
async def http(settings, db) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        served_app(settings.model_copy(update={"max_body_bytes": LIMIT})) as url,
        httpx.AsyncClient(base_url=url, timeout=10, headers=admin()) as client,
    ):
        yield client


def client_body(size: int) -> bytes:
    """A valid client, padded with JSON whitespace to exactly ``size`` bytes."""
    body = json.dumps({"name": "Padded Body LLC"}).encode()
    return body + b" " * (size - len(body))


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def assert_too_large(response: httpx.Response) -> None:
    body = assert_problem(response, 413, "payload_too_large")
    assert str(LIMIT) in body["detail"]
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


async def test_a_declared_length_over_the_limit_is_refused_unread(http, db):
    response = await http.post(
        "/api/v1/clients", content=client_body(LIMIT + 1), headers={"Content-Type": "application/json"}
    )
    assert_too_large(response)
    assert await db.fetchval("SELECT count(*) FROM crm.clients") == 0
    # The connection serves the next request.
    assert (await http.get("/api/v1/clients")).status_code == 200


async def test_a_route_that_reads_no_body_does_not_run_for_a_body_over_the_limit(http, db):
    client = await make_client(http)
    assert (await http.delete(f"/api/v1/clients/{client['id']}")).status_code == 204
    response = await http.post(f"/api/v1/clients/{client['id']}/restore", content=b"x" * (LIMIT * 4))
    assert_too_large(response)
    assert await db.fetchval("SELECT is_deleted FROM crm.clients WHERE id = $1::uuid", client["id"])


async def test_a_streamed_body_over_the_limit_is_refused_without_a_write(http, db):
    response = await http.post(
        "/api/v1/clients", content=chunks(client_body(LIMIT * 3)), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers  # sent chunked
    assert_too_large(response)
    assert await db.fetchval("SELECT count(*) FROM crm.clients") == 0
    assert await db.fetchval("SELECT count(*) FROM crm.outbox") == 0


async def test_a_streamed_and_a_declared_refusal_say_the_same(http):
    declared = await http.post("/api/v1/clients", content=client_body(LIMIT + 1))
    streamed = await http.post("/api/v1/clients", content=chunks(client_body(LIMIT + 1)))
    assert declared.json() == streamed.json()


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_body_of_exactly_the_limit_is_served(http, db, streamed):
    body = client_body(LIMIT)
    response = await http.post(
        "/api/v1/clients", content=chunks(body) if streamed else body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Padded Body LLC"
