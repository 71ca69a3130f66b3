"""The per-caller rate limit: a small quota, counted in the process (no Redis configured) or in the shared Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from crm.app.config import Settings
from tests.apps import running_app
from tests.auth import bearer
from tests.factories import assert_problem, make_client

QUOTA = 3


def limited(settings: Settings, requests: int = QUOTA, window: float = 60.0, **more: object) -> Settings:
    return settings.model_copy(
        update={"rate_limit_requests": requests, "rate_limit_window_seconds": window, "redis_url": None, **more}
    )


def actor(user_id: uuid.UUID | None = None) -> dict[str, str]:
    """A caller of their own: an admin's token for a new subject (or ``user_id``)."""
    return bearer(user_id or uuid.uuid4(), "admin")


@asynccontextmanager
async def from_address(app: FastAPI, host: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(host, 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://crm.test") as client:
        yield client


async def test_a_caller_over_its_quota_is_answered_429_with_retry_after(settings, db):
    async with running_app(limited(settings)) as (_, api):
        me = actor()
        answers = [await api.get("/api/v1/deals", headers=me) for _ in range(QUOTA + 1)]
    assert [a.status_code for a in answers] == [200] * QUOTA + [429]
    refused = answers[-1]
    body = assert_problem(refused, 429, "rate_limited")
    assert "retry in" in body["detail"]
    assert refused.headers["retry-after"].isdigit() and int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["cache-control"] == "no-store"


async def test_every_counted_answer_says_what_is_left(settings, db):
    async with running_app(limited(settings, window=30)) as (_, api):
        me = actor()
        answers = [await api.get("/api/v1/clients", headers=me) for _ in range(QUOTA - 1)]
        answers.append(await api.get(f"/api/v1/clients/{uuid.uuid4()}", headers=me))
    assert [a.status_code for a in answers] == [200, 200, 404]  # whatever the answer, it says what is left
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
    assert {a.headers["ratelimit-limit"] for a in answers} == {str(QUOTA)}
    assert [a.headers["ratelimit-reset"] for a in answers] == ["10", "20", "30"]  # one interval of 10 s each


async def test_callers_are_counted_apart_by_actor(settings, db):
    async with running_app(limited(settings)) as (_, api):
        first, second = actor(), actor()
        for _ in range(QUOTA):
            await api.get("/api/v1/deals", headers=first)
        assert (await api.get("/api/v1/deals", headers=first)).status_code == 429
        assert (await api.get("/api/v1/deals", headers=second)).status_code == 200


async def test_callers_without_a_subject_are_counted_by_client_address(settings, db):
    # With authentication disabled (development) no caller has a subject; with it on, a request without a
    # valid token is a 401 before it is counted.
    async with (
        running_app(limited(settings, auth_disabled=True)) as (app, _),
        from_address(app, "192.0.2.10") as one,
        from_address(app, "192.0.2.11") as other,
    ):
        assert [(await one.get("/api/v1/deals")).status_code for _ in range(QUOTA + 1)][-1] == 429
        assert (await other.get("/api/v1/deals")).status_code == 200


async def test_the_same_address_with_another_subject_is_another_caller(settings, db):
    async with running_app(limited(settings)) as (app, _), from_address(app, "192.0.2.12") as one:
        first = actor()
        assert [(await one.get("/api/v1/deals", headers=first)).status_code for _ in range(QUOTA + 1)][-1] == 429
        assert (await one.get("/api/v1/deals", headers=actor())).status_code == 200


async def test_the_quota_is_one_for_all_routes_and_the_stream(settings, db):
    async with running_app(limited(settings)) as (_, api):
        me = actor()
        await api.get("/api/v1/deals", headers=me)
        await api.get("/api/v1/tasks", headers=me)
        await api.get("/api/v1/policies", headers=me)
        assert_problem(await api.get("/api/v1/clients", headers=me), 429, "rate_limited")
        assert_problem(await api.get("/streams/deals", headers=me), 429, "rate_limited")
        assert (await api.head("/api/v1/deals", headers=me)).status_code == 429


async def test_a_refused_request_changes_nothing(settings, db):
    async with running_app(limited(settings, requests=1)) as (_, api):
        me = actor()
        await api.get("/api/v1/clients", headers=me)
        response = await api.post("/api/v1/clients", json={"name": "Refused LLC"}, headers=me)
        assert_problem(response, 429, "rate_limited")
    assert await db.fetchval("SELECT count(*) FROM crm.clients") == 0
    assert await db.fetchval("SELECT count(*) FROM crm.outbox") == 0


async def test_a_refused_caller_is_served_again_once_the_interval_passed(settings, db):
    # 2 requests per 0.4 s: one more every 0.2 s.
    async with running_app(limited(settings, requests=2, window=0.4)) as (_, api):
        me = actor()
        assert [(await api.get("/api/v1/deals", headers=me)).status_code for _ in range(3)] == [200, 200, 429]
        await asyncio.sleep(0.25)
        assert (await api.get("/api/v1/deals", headers=me)).status_code == 200


async def test_health_checks_are_never_counted(settings, db):
    async with running_app(limited(settings, requests=1)) as (_, api):
        for _ in range(5):
            assert (await api.get("/healthz")).status_code == 200
            ready = await api.get("/readyz")
            assert ready.status_code == 200
            assert "ratelimit-limit" not in ready.headers


async def test_a_limit_of_zero_counts_nothing(settings, db):
    async with running_app(limited(settings, requests=0)) as (_, api):
        me = actor()
        answers = [await api.get("/api/v1/deals", headers=me) for _ in range(20)]
        await make_client(api)
    assert {a.status_code for a in answers} == {200}
    assert "ratelimit-limit" not in answers[0].headers


async def test_processes_sharing_redis_share_each_callers_quota(settings, db, cache_url, run_id):
    prefix = f"crm:rate-limit:test-shared:{run_id}"
    shared = limited(settings, redis_url=cache_url, rate_limit_prefix=prefix)
    me_id = uuid.uuid4()
    me = actor(me_id)
    async with AsyncExitStack() as stack:
        first = (await stack.enter_async_context(running_app(shared)))[1]
        second = (await stack.enter_async_context(running_app(shared)))[1]
        statuses = [(await api.get("/api/v1/deals", headers=me)).status_code for api in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]
    redis = Redis.from_url(cache_url)
    try:
        key = f"{prefix}:actor:{me_id}"
        assert 0 < await redis.pttl(key) <= 60_000  # the key expires with the caller's state
        await redis.delete(key)
    finally:
        await redis.aclose()


@pytest.mark.parametrize("path", ["/api/v1/deals", "/api/v1/nothing-here"])
async def test_an_unknown_or_bad_request_is_still_answered_as_before(settings, db, path):
    # Routing comes first: an unknown path is a 404 without being counted.
    async with running_app(limited(settings, requests=1)) as (_, api):
        me = actor()
        statuses = [(await api.get(path, headers=me)).status_code for _ in range(2)]
    assert statuses == ([200, 429] if path == "/api/v1/deals" else [404, 404])
