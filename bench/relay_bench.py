"""Outbox relay throughput: how fast a backlog of outbox rows reaches RabbitMQ, against raw aio-pika.

Each round writes ``--events`` outbox rows (CloudEvents of ≈ 600 bytes, like ``deal.updated``) and times the relay
until the backlog is gone, twice: as crm-api runs it (a leading ``OutboxRelay.run``: numbering in its own loop
while the broker sink reads rows in sequence order, publishes them in batches with publisher confirms and marks
them published) and as crm-worker's sweep runs it (``OutboxRelay.sweep``: all numbering first, then publishing).
In the same round the ceiling is measured: raw aio-pika publishing the same number of messages, in batches of
the same size, with confirms, to the same durable topic exchange with a bound durable queue (the shape of
a plain confirm-batch publisher). The ratio relay / raw is what to watch.

Usage: .venv/bin/python bench/relay_bench.py [--events 20000] [--batch 500] [--rounds 3]
Env: BENCH_PG_URL (admin URL, default postgresql://postgres@127.0.0.1:5432/postgres),
     BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import aio_pika
import asyncpg

from crm.app.config import Settings
from crm.app.events import sweep_outbox
from crm.infrastructure.db.migrations import upgrade_to_head
from crm.infrastructure.db.outbox import OutboxStore, PgDealEventLog
from crm.infrastructure.events.publisher import BrokerPublisher
from crm.infrastructure.events.relay import OutboxRelay

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
EXCHANGE = f"bench.crm.relay.{uuid.uuid4().hex[:8]}"


def cloudevent(event_id: uuid.UUID, deal_id: uuid.UUID) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(event_id),
            "source": "crm.deals",
            "type": "crm.deal.updated",
            "subject": str(deal_id),
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "data": {
                "id": str(deal_id),
                "client_id": str(uuid.uuid4()),
                "title": "KASKO renewal for a fleet of 12 vehicles",
                "status": "in_progress",
                "stage": "negotiation",
                "next_review_at": "2026-12-01",
                "version": 3,
                "updated_at": datetime.now(UTC).isoformat(),
            },
        }
    )


async def write_backlog(connection: asyncpg.Connection, count: int) -> None:
    rows = []
    for _ in range(count):
        event_id, deal_id = uuid.uuid4(), uuid.uuid4()
        rows.append((event_id, "deal", deal_id, "deal.updated", cloudevent(event_id, deal_id), "{}"))
    await connection.copy_records_to_table(
        "outbox",
        schema_name="crm",
        columns=["event_id", "aggregate_type", "aggregate_id", "routing_key", "payload", "headers"],
        records=rows,
    )


async def sweep_round(pool: asyncpg.Pool, settings: Settings, count: int) -> float:
    """crm-worker's path: one call numbers everything, then publishes batch after batch."""
    async with pool.acquire() as connection:
        await write_backlog(connection, count)
    started = time.perf_counter()
    published = await sweep_outbox(pool, settings)
    elapsed = time.perf_counter() - started
    assert published == count, (published, count)
    return count / elapsed


async def lead_round(pool: asyncpg.Pool, settings: Settings, count: int) -> float:
    """crm-api's path: a leading relay numbers in its own loop while its broker sink publishes."""
    assert settings.database_url is not None and settings.rabbitmq_url is not None
    store = OutboxStore(pool)
    relay = OutboxRelay(
        settings.database_url,
        store,
        PgDealEventLog(pool),
        publisher=BrokerPublisher(settings.rabbitmq_url, settings.events_exchange),
        fanout=None,
        batch_size=settings.relay_batch_size,
        poll_interval=0.05,
    )
    async with pool.acquire() as connection:
        await write_backlog(connection, count)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    try:
        while True:
            if not await pool.fetchval("SELECT EXISTS (SELECT FROM crm.outbox WHERE published_at IS NULL)"):
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return count / elapsed


async def raw_round(count: int, batch: int) -> float:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        bodies = [cloudevent(uuid.uuid4(), uuid.uuid4()).encode() for _ in range(count)]
        started = time.perf_counter()
        for first in range(0, count, batch):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            content_type="application/cloudevents+json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key="deal.updated",
                        mandatory=True,
                    )
                    for body in bodies[first : first + batch]
                )
            )
        return count / (time.perf_counter() - started)
    finally:
        await connection.close()


async def main(events: int, batch: int, rounds: int) -> None:
    name = f"crm_bench_relay_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    broker = await aio_pika.connect(AMQP_URL)
    channel = await broker.channel()
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(f"{EXCHANGE}.all", durable=True)
    await queue.bind(exchange, "#")
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, database_url=url, rabbitmq_url=AMQP_URL, events_exchange=EXCHANGE, relay_batch_size=batch
        )
        pool = await asyncpg.create_pool(url, min_size=2, max_size=4)
        lead, sweep, raw = [], [], []
        await sweep_round(pool, settings, batch)  # warm-up
        for _ in range(rounds):
            lead.append(await lead_round(pool, settings, events))
            sweep.append(await sweep_round(pool, settings, events))
            raw.append(await raw_round(events, batch))
            await queue.purge()
        await pool.close()
        raw_median = statistics.median(raw)
        for label, values in (("relay lead (crm-api)", lead), ("relay sweep (crm-worker)", sweep)):
            median = statistics.median(values)
            print(
                f"{label:<25} batch {batch}: median {median:6.0f} events/s = {median / raw_median:6.1%} of raw;"
                f" runs {[round(v) for v in values]}"
            )
        print(f"{'raw aio-pika, same batches':<34}: median {raw_median:6.0f} msg/s; runs {[round(v) for v in raw]}")
    finally:
        await channel.queue_delete(f"{EXCHANGE}.all")
        await channel.exchange_delete(EXCHANGE)
        await broker.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.batch, arguments.rounds))
