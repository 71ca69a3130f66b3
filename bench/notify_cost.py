"""What waking the relay with NOTIFY costs a write transaction.

NOTIFY takes a cluster-wide lock while its transaction commits, so committing writers queue behind each other.
This measures committed outbox writes per second with 64 concurrent connections, each transaction inserting one
outbox row like a request does: without NOTIFY, with one NOTIFY per transaction, and the way
``OutboxWriter`` does it (one process: at most one NOTIFY per ``NOTIFY_WINDOW``), alternating the variants so
drift hits them all.

Usage: .venv/bin/python bench/notify_cost.py [postgresql://postgres@127.0.0.1:5432/postgres] [seconds] [rounds]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid

import asyncpg

from crm.infrastructure.db.migrations import upgrade_to_head
from crm.infrastructure.db.outbox import INSERT, INSERT_QUIET, NOTIFY_WINDOW

PAYLOAD = json.dumps({"specversion": "1.0", "type": "crm.deal.created", "data": {"title": "x" * 400}})
CONNECTIONS = 64


async def run(pool: asyncpg.Pool, variant: str, seconds: float) -> float:
    done = 0
    deadline = time.monotonic() + seconds
    notified_at = -NOTIFY_WINDOW

    def statement() -> str:
        nonlocal notified_at
        if variant == "never":
            return INSERT_QUIET
        now = time.monotonic()
        if variant == "always" or now - notified_at >= NOTIFY_WINDOW:
            notified_at = now
            return INSERT
        return INSERT_QUIET

    async def writer() -> None:
        nonlocal done
        async with pool.acquire() as connection:
            while time.monotonic() < deadline:
                async with connection.transaction():
                    await connection.execute(
                        statement(), [uuid.uuid4()], ["deal"], [uuid.uuid4()], ["deal.created"], [PAYLOAD], ["{}"]
                    )
                done += 1

    started = time.monotonic()
    await asyncio.gather(*(writer() for _ in range(CONNECTIONS)))
    return done / (time.monotonic() - started)


async def main(admin_url: str, seconds: float, rounds: int) -> None:
    name = f"crm_bench_notify_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        pool = await asyncpg.create_pool(url, min_size=CONNECTIONS, max_size=CONNECTIONS)
        results: dict[str, list[float]] = {"never": [], "always": [], "windowed": []}
        for _ in range(rounds):
            for variant, values in results.items():
                values.append(await run(pool, variant, seconds))
        await pool.close()
        never = statistics.median(results["never"])
        for variant, values in results.items():
            median = statistics.median(values)
            print(
                f"NOTIFY {variant:>8}: median {median:6.0f} tx/s = {median / never:6.1%} of never;"
                f" runs {[round(v) for v in values]}"
            )
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    arguments = sys.argv[1:]
    asyncio.run(
        main(
            arguments[0] if arguments else "postgresql://postgres@127.0.0.1:5432/postgres",
            float(arguments[1]) if len(arguments) > 1 else 5.0,
            int(arguments[2]) if len(arguments) > 2 else 3,
        )
    )
