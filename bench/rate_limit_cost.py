"""What the per-caller rate limit costs, in this process (no network, no relay), with the limit off, counted in the
process and counted in Redis.

1. The limiter alone: one call at a time (µs per call: with Redis, one round trip), and ``--concurrency`` callers
   at once (CPU µs of this process per call: what the limiter takes from a busy crm-api; with Redis the checks
   of one event-loop turn share one pipeline).
2. The whole request, GET /api/v1/deals/{id} through the ASGI app (the dependency, the caller, the headers, the
   limiter): one at a time (wall µs per request), and ``--concurrency`` in flight (requests per second, and CPU
   µs of this process per request, client included: the client's share is the same in every variant).

Each round runs every variant once, in turn, on the same database and deal; the tables show the best round of
each (the least disturbed: this machine is shared, PostgreSQL and Redis run on it, and single rounds swing by
±20 %).

Usage: .venv/bin/python bench/rate_limit_cost.py [--requests 2000] [--rounds 7] [--concurrency 32]
Env: BENCH_PG_URL (admin URL, default postgresql://postgres@127.0.0.1:5432/postgres),
     BENCH_REDIS_URL (default redis://127.0.0.1:6379/0; the keys it makes are deleted at the end)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import jwt
from redis.asyncio import Redis

from crm.app.config import Settings
from crm.app.logging import configure_logging
from crm.app.main import create_app
from crm.app.rate_limits import rate_limiter
from crm.infrastructure.db.migrations import upgrade_to_head

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = f"bench:rate-limit:{uuid.uuid4().hex[:8]}"
# Every request carries one admin's token, signed with this run's own key (never printed).
SECRET = secrets.token_urlsafe(48)
ACTOR_ID = "0b8f3c52-6f0e-4a43-9d7e-6d3f5d1c2a90"
ACTOR = {
    "Authorization": "Bearer "
    + jwt.encode({"sub": ACTOR_ID, "roles": ["admin"], "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
}
NEVER_REACHED = 1_000_000


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client


async def sequential(client: httpx.AsyncClient, path: str, requests: int) -> float:
    """µs per request, one at a time."""
    started = time.perf_counter()
    for _ in range(requests):
        response = await client.get(path, headers=ACTOR)
        assert response.status_code == 200, response.text
    return (time.perf_counter() - started) / requests * 1e6


async def concurrent(client: httpx.AsyncClient, path: str, requests: int, concurrency: int) -> tuple[float, float]:
    """Requests per second with ``concurrency`` in flight, and CPU µs of this process per request."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            response = await client.get(path, headers=ACTOR)
            assert response.status_code == 200, response.text

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started), (time.process_time() - cpu) / requests * 1e6


async def limiter_alone(settings: Settings, calls: int, concurrency: int) -> tuple[float, float]:
    """µs per call one at a time, and CPU µs per call with ``concurrency`` callers (each its own key)."""
    limiter = rate_limiter(settings)
    assert limiter is not None
    try:
        await limiter.hit("actor:warm-up")
        started = time.perf_counter()
        for _ in range(calls):
            await limiter.hit(f"actor:{ACTOR_ID}")
        latency = (time.perf_counter() - started) / calls * 1e6

        async def caller(number: int) -> None:
            for _ in range(calls // concurrency):
                await limiter.hit(f"actor:bench-{number}")
                await asyncio.sleep(0)  # the rest of a request

        cpu = time.process_time()
        await asyncio.gather(*(caller(number) for number in range(concurrency)))
        return latency, (time.process_time() - cpu) / (calls // concurrency * concurrency) * 1e6
    finally:
        await limiter.close()


async def main(requests: int, rounds: int, concurrency: int) -> None:
    name = f"crm_bench_rate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        base = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=url,
            access_log=False,
            relay_enabled=False,
            log_level="WARNING",
            jwt_access_secret=SECRET,
        )
        configure_logging(base)
        variants = {
            "off (CRM_RATE_LIMIT_REQUESTS=0)": base.model_copy(update={"rate_limit_requests": 0}),
            "in-process": base.model_copy(update={"rate_limit_requests": NEVER_REACHED}),
            "Redis": base.model_copy(
                update={"rate_limit_requests": NEVER_REACHED, "redis_url": REDIS_URL, "rate_limit_prefix": PREFIX}
            ),
        }
        async with served(base) as client:
            made = await client.post("/api/v1/clients", json={"name": "Bench LLC"})
            deal = await client.post(
                "/api/v1/deals",
                json={"client_id": made.json()["id"], "title": "Bench deal", "next_review_at": "2027-01-15"},
            )
        path = f"/api/v1/deals/{deal.json()['id']}"
        alone: dict[str, list[tuple[float, float]]] = {label: [] for label in list(variants)[1:]}
        runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in variants}
        for round_ in range(rounds + 1):  # the first round warms up
            for label in alone:
                figures = await limiter_alone(variants[label], requests, concurrency)
                if round_ > 0:
                    alone[label].append(figures)
            for label, settings in variants.items():
                async with served(settings) as client:
                    await sequential(client, path, 200)
                    latency = await sequential(client, path, requests)
                    throughput, cpu = await concurrent(client, path, requests, concurrency)
                if round_ > 0:
                    runs[label].append((latency, throughput, cpu))
        print(f"The limiter alone, best of {rounds} rounds of {requests} calls")
        print(f"| limiter | one at a time µs/call | {concurrency} callers: CPU µs/call |")
        print("|---|---|---|")
        for label, values in alone.items():
            latencies, cpus = zip(*values, strict=True)
            print(f"| {label} | {min(latencies):,.1f} | {min(cpus):,.1f} |")
        best = {
            label: (min(v[0] for v in values), max(v[1] for v in values), min(v[2] for v in values))
            for label, values in runs.items()
        }
        off_latency, off_throughput, off_cpu = best["off (CRM_RATE_LIMIT_REQUESTS=0)"]
        print(f"\nGET {path.rsplit('/', 1)[0]}/{{id}}, best of {rounds} rounds of {requests} requests")
        print(f"| rate limit | one at a time µs/request | {concurrency} in flight: req/s | CPU µs/request |")
        print("|---|---|---|---|")
        for label, (latency, throughput, cpu) in best.items():
            print(
                f"| {label} | {latency:,.0f} ({latency - off_latency:+,.0f}) | {throughput:,.0f}"
                f" ({throughput / off_throughput - 1:+.1%}) | {cpu:,.0f} ({cpu - off_cpu:+,.0f}) |"
            )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=f"{PREFIX}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=32)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.rounds, arguments.concurrency))
