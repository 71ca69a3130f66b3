"""What checking the access token costs per request, in CPU time: GET /api/v1/deals/{id} through the real app.

Three apps on one scratch database run in this process, each request going through the whole ASGI app
(middleware, token check, route, service, SQL) from an httpx client over ``httpx.ASGITransport`` (no network):
the service with authentication disabled, the service sent one token on every request (as a client sends it:
verified once, then remembered), and the service sent a new token on every request (each signature checked).
Rounds alternate the three; the figure is the CPU time of this process per request (``time.process_time``, so
other processes on a shared machine barely move it), the best round of each and the median. The client's own
work is in every figure alike: the difference between two is what the token check costs.

Usage: .venv/bin/python bench/token_cost.py [--requests 3000] [--rounds 5]
Env: BENCH_PG_URL (admin URL, default postgresql://postgres@127.0.0.1:5432/postgres)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack

import asyncpg
import httpx
import jwt
from pydantic import SecretStr

from crm.app.config import Settings
from crm.app.main import create_app
from crm.infrastructure.db.migrations import upgrade_to_head

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DEALS = 200


def access_token(secret: str) -> str:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "roles": ["admin"], "iat": now, "exp": now + 3600}
    return jwt.encode(claims, secret, algorithm="HS256")


async def client_of(stack: AsyncExitStack, settings: Settings) -> httpx.AsyncClient:
    app = create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    transport = httpx.ASGITransport(app=app)
    return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://crm.bench"))


async def seed(client: httpx.AsyncClient) -> list[str]:
    owner = (await client.post("/api/v1/clients", json={"name": "Bench Client LLC"})).json()["id"]
    ids = []
    for n in range(DEALS):
        body = {"client_id": owner, "title": f"Bench deal {n}", "next_review_at": "2027-03-01"}
        response = await client.post("/api/v1/deals", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def cpu_per_request(
    client: httpx.AsyncClient, deal_ids: list[str], requests: int, authorization: Callable[[], str]
) -> float:
    """Microseconds of this process's CPU per GET by id."""
    paths = [f"/api/v1/deals/{random.choice(deal_ids)}" for _ in range(requests)]
    headers = [{"Authorization": authorization()} for _ in range(requests)]
    started = time.process_time()
    for path, header in zip(paths, headers, strict=True):
        response = await client.get(path, headers=header)
        assert response.status_code == 200, response.text
    return (time.process_time() - started) / requests * 1e6


async def main(requests: int, rounds: int) -> None:
    name = f"crm_bench_tokens_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    secret = secrets.token_urlsafe(48)
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        # Without a rate limit: one client sends everything, and the token check is what is measured.
        base = Settings(  # type: ignore[call-arg]
            _env_file=None, database_url=url, access_log=False, relay_enabled=False, rate_limit_requests=0
        )
        async with AsyncExitStack() as stack:
            checked = await client_of(stack, base.model_copy(update={"jwt_access_secret": SecretStr(secret)}))
            disabled = await client_of(stack, base.model_copy(update={"auth_disabled": True}))
            deal_ids = await seed(disabled)
            one = f"Bearer {access_token(secret)}"
            fresh = iter([f"Bearer {access_token(secret)}" for _ in range(requests * (rounds + 1))])
            variants = {
                "authentication disabled": (disabled, lambda: one),
                "one token, every request": (checked, lambda: one),
                "a new token each request": (checked, lambda: next(fresh)),
            }
            for client, authorization in variants.values():  # warm-up
                await cpu_per_request(client, deal_ids, requests // 10, authorization)
            figures: dict[str, list[float]] = {label: [] for label in variants}
            labels = list(variants)
            for round_ in range(rounds):
                for label in labels[round_ % 3 :] + labels[: round_ % 3]:
                    client, authorization = variants[label]
                    figures[label].append(await cpu_per_request(client, deal_ids, requests, authorization))
        reference = min(figures["authentication disabled"])
        print(f"GET /api/v1/deals/{{id}}, {requests} requests x {rounds} rounds, CPU µs per request of this process:")
        for label, values in figures.items():
            best = min(values)
            print(
                f"  {label:<26} best {best:6.0f}  median {statistics.median(values):6.0f}"
                f"  token check {best - reference:+5.0f} µs ({best / reference - 1:+.1%});"
                f" rounds {[round(v) for v in values]}"
            )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.rounds))
