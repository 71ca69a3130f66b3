"""Two real ``crm-api`` processes on one database take appeals at once: no operator ever holds more open appeals
than their ``max_load``, every slot is used, and each operator's load is the count of their open appeals."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from tests.apps import free_port
from tests.auth import SECRET, admin
from tests.e2e.test_crm_api_process import clean_env, running
from tests.leads import APPEALS, make_operator, make_source

pytestmark = pytest.mark.e2e

CAPACITY_CHECK = """
SELECT o.id, o.max_load, o.load, count(a.id) AS open
FROM crm.operators o LEFT JOIN crm.appeals a ON a.operator_id = o.id AND a.status = 'open'
GROUP BY o.id
"""


async def _post_together(bases: list[str], bodies: list[dict[str, str]]) -> list[httpx.Response]:
    """Every body posted at once, alternating between the processes, each on its own connection."""
    limits = httpx.Limits(max_connections=len(bodies))
    clients = [httpx.AsyncClient(base_url=base, timeout=30, headers=admin(), limits=limits) for base in bases]
    try:
        start = asyncio.Event()

        async def post(index: int, body: dict[str, str]) -> httpx.Response:
            await start.wait()
            return await clients[index % len(clients)].post(APPEALS, json=body)

        tasks = [asyncio.create_task(post(i, body)) for i, body in enumerate(bodies)]
        await asyncio.sleep(0.1)
        start.set()
        return await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()


async def _capacity(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch(CAPACITY_CHECK)


async def test_sixty_four_concurrent_appeals_across_two_processes_never_exceed_max_load(tmp_path, db, database_url):
    shared = {"CRM_DATABASE_URL": database_url, "CRM_RELAY_ENABLED": "false", "CRM_JWT_ACCESS_SECRET": SECRET}
    first_env = clean_env(CRM_SERVICE_PORT=str(free_port()), CRM_DB_POOL_MAX_SIZE="20", **shared)
    second_env = clean_env(CRM_SERVICE_PORT=str(free_port()), CRM_DB_POOL_MAX_SIZE="20", **shared)
    with running(first_env, tmp_path) as first, running(second_env, tmp_path) as second:
        async with httpx.AsyncClient(base_url=first, timeout=30, headers=admin()) as api:
            caps = [5, 7, 3]
            operators = [await make_operator(api, max_load=cap) for cap in caps]
            busy = await make_source(api, {op["id"]: w for op, w in zip(operators, (1, 2, 3), strict=True)})
            other = await make_source(api, {op["id"]: 1 for op in operators})
        # 64 at once over two sources, a quarter of them repeat contacts of four people (sticky).
        bodies = [
            {
                "source_id": (busy if i % 3 else other)["id"],
                "external_id": f"tg:repeat-{i % 16}" if i % 4 == 0 else f"tg:{uuid.uuid4().hex}",
            }
            for i in range(64)
        ]

        answers = await _post_together([first, second], bodies)

        assert [a.status_code for a in answers] == [201] * 64, [a.text for a in answers if a.status_code != 201]
        wave = await _capacity(db)
        # Then closing some while new ones come in: freed slots are pulled from the queue or taken by newcomers.
        held = [a.json()["id"] for a in answers if a.json()["operator_id"] is not None][:6]
        async with httpx.AsyncClient(base_url=second, timeout=30, headers=admin()) as api:
            closes = [api.post(f"{APPEALS}/{appeal_id}/close", json={}) for appeal_id in held]
            more = _post_together([first, second], bodies[:32])
            closed, again = await asyncio.gather(asyncio.gather(*closes), more)
        assert {c.status_code for c in closed} == {200} and {a.status_code for a in again} == {201}
        after = await _capacity(db)

    for state in (wave, after):
        assert all(row["open"] <= row["max_load"] for row in state), [dict(r) for r in state]
        assert all(row["load"] == row["open"] for row in state), [dict(r) for r in state]
        # More appeals than slots, nobody absent: every slot is taken.
        assert sum(row["open"] for row in state) == sum(caps)
    unassigned = await db.fetchval("SELECT count(*) FROM crm.appeals WHERE operator_id IS NULL")
    assert unassigned == 64 + 32 - sum(caps) - len(held)
