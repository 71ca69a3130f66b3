"""Two real ``crm-api`` processes on one database, RabbitMQ and Redis: one publishes, both stream everything."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from tests.apps import free_port
from tests.auth import SECRET, admin
from tests.e2e.test_crm_api_process import clean_env, running
from tests.messaging.support import consumer, delete_exchange, eventually, open_stream
from tests.outbox import all_published

pytestmark = pytest.mark.e2e


async def test_two_processes_publish_each_event_once_and_both_stream_it(
    request, tmp_path, db, database_url, broker_url, cache_url, run_id
):
    exchange = f"crm.events.e2e.{run_id}"
    shared = {
        "CRM_DATABASE_URL": database_url,
        "CRM_RABBITMQ_URL": broker_url,
        "CRM_EVENTS_EXCHANGE": exchange,
        "CRM_REDIS_URL": cache_url,
        "CRM_STREAM_CHANNEL": f"crm.stream.e2e.{run_id}",
        "CRM_RELAY_POLL_INTERVAL": "0.5",
        "CRM_JWT_ACCESS_SECRET": SECRET,
    }
    first_env = clean_env(CRM_SERVICE_PORT=str(free_port()), **shared)
    second_env = clean_env(CRM_SERVICE_PORT=str(free_port()), **shared)
    request.addfinalizer(lambda: asyncio.run(delete_exchange(broker_url, exchange)))
    async with consumer(broker_url, exchange) as queue:
        with running(first_env, tmp_path) as first, running(second_env, tmp_path) as second:
            async with open_stream(first) as first_stream, open_stream(second) as second_stream:
                async with httpx.AsyncClient(base_url=second, timeout=10, headers=admin()) as api:
                    client = (await api.post("/api/v1/clients", json={"name": "Two Processes Ltd"})).json()
                    deal = await api.post(
                        "/api/v1/deals",
                        json={"client_id": client["id"], "title": "Fleet", "next_review_at": "2026-12-01"},
                    )
                    assert deal.status_code == 201, deal.text
                streamed = [await first_stream.next(), await second_stream.next()]
            await queue.wait_for(2)
            await queue.quiet()

            await eventually(lambda: all_published(db))
            readiness = [(await asyncio.to_thread(_ready, base)) for base in (first, second)]

    assert [m.routing_key for m in queue.messages] == ["client.created", "deal.created"]
    assert {e.event for e in streamed} == {"deal.created"}
    assert streamed[0].id == streamed[1].id
    assert sorted(r["components"]["broker"]["relay"] for r in readiness) == ["lead", "standby"]
    assert all(r["components"]["redis"]["listening"] for r in readiness)


def _ready(base: str) -> dict:
    return httpx.get(f"{base}/readyz", timeout=5).json()


def test_sigterm_ends_open_streams_cleanly(tmp_path, database_url):
    port = free_port()
    # Authentication is not the point here: off, as in development.
    env = clean_env(
        CRM_SERVICE_PORT=str(port), CRM_DATABASE_URL=database_url, CRM_RELAY_ENABLED="false", CRM_AUTH_DISABLED="true"
    )
    outcome: dict[str, object] = {}

    def follow(base: str) -> None:
        try:
            with httpx.stream("GET", f"{base}/streams/deals", timeout=httpx.Timeout(10, read=None)) as response:
                outcome["status"] = response.status_code
                for _ in response.iter_lines():
                    pass
            outcome["ended"] = "cleanly"
        except httpx.HTTPError as exc:
            outcome["ended"] = repr(exc)

    with running(env, tmp_path) as base:
        reader = threading.Thread(target=follow, args=(base,), daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while "status" not in outcome and time.monotonic() < deadline:
            time.sleep(0.05)
    reader.join(timeout=10)

    assert outcome == {"status": 200, "ended": "cleanly"}
    assert "without completing response" not in (tmp_path / f"crm-api-{port}.log").read_text()
