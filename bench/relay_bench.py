"""Outbox relay throughput: how fast a backlog of outbox rows reaches RabbitMQ, against raw aio-pika.

Each round writes ``--events`` outbox rows (CloudEvents of ≈ 600 bytes, like ``deal.updated``, written as requests
write them: one INSERT giving each its sequence) and times the relay until its cursor has passed them all, twice: as
crm-api runs it (a leading ``OutboxRelay.run``: the broker sink reads settled rows in sequence order and publishes
them in batches with publisher confirms, reading the next batch while up to ``--in-flight`` batches await their
confirms, and moves the cursor batch by batch) and as crm-worker's sweep runs it (``OutboxRelay.sweep``, the same
pipeline). In the same round the ceiling is measured twice: raw aio-pika publishing the same number of messages, in
batches of the same size, with confirms, to the same durable topic exchange with a bound durable queue (the shape
of a plain confirm-batch publisher), once with bare messages (body and content type) and once with the properties
and headers the relay sets (``message_id``, ``timestamp``, ``type``, ``app_id``, ``correlation_id``, six ``ce-*``
and ``x-trace-id`` headers), built in advance. The ratio relay / raw is what to watch.

Usage: .venv/bin/python bench/relay_bench.py [--events 20000] [--batch 500] [--rounds 3] [--in-flight 2]
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
from collections.abc import Callable
from datetime import UTC, datetime

import aio_pika
import asyncpg

from crm.app.config import Settings
from crm.app.events import sweep_outbox
from crm.infrastructure.db.migrations import upgrade_to_head
from crm.infrastructure.db.outbox import CURSOR, INSERT_QUIET, SETTLED, OutboxStore, PgDealEventLog
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


HEADERS = json.dumps({"x-trace-id": "696404f7-e9a3-4ecc-91db-5d4af1fe9521"})
WRITES_PER_TRANSACTION = 100


async def write_backlog(connection: asyncpg.Connection, count: int) -> None:
    """``count`` events in transactions of 100, each one INSERT as ``OutboxWriter`` sends it."""
    for first in range(0, count, WRITES_PER_TRANSACTION):
        ids = [uuid.uuid4() for _ in range(min(WRITES_PER_TRANSACTION, count - first))]
        deals = [uuid.uuid4() for _ in ids]
        await connection.execute(
            INSERT_QUIET,
            ids,
            ["deal"] * len(ids),
            deals,
            ["deal.updated"] * len(ids),
            [cloudevent(event_id, deal_id) for event_id, deal_id in zip(ids, deals, strict=True)],
            [HEADERS] * len(ids),
        )
    await settled(connection)


async def settled(connection: asyncpg.Connection) -> None:
    """Waits until every row is below the horizon (a transaction of another database may hold it back a moment),
    so that the clock measures publishing, not the server's other work."""
    while await connection.fetchval(f"SELECT EXISTS (SELECT FROM crm.outbox WHERE NOT ({SETTLED}))"):  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def all_published(pool: asyncpg.Pool) -> bool:
    return bool(
        await pool.fetchval(f"SELECT NOT EXISTS (SELECT FROM crm.outbox WHERE sequence > coalesce({CURSOR}, 0))")
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


async def lead_round(pool: asyncpg.Pool, settings: Settings, count: int, in_flight: int) -> float:
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
        poll_interval=settings.relay_poll_interval,  # as deployed: the backlog is there before it starts
        max_in_flight=in_flight,
    )
    async with pool.acquire() as connection:
        await write_backlog(connection, count)
    started = time.perf_counter()
    task = asyncio.create_task(relay.run())
    try:
        while True:
            if await all_published(pool):
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return count / elapsed


def bare_message(body: bytes) -> aio_pika.Message:
    return aio_pika.Message(
        body, content_type="application/cloudevents+json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
    )


def full_message(body: bytes) -> aio_pika.Message:
    """What the relay sends for a ``deal.updated`` (``crm.infrastructure.events.publisher.to_properties``)."""
    event = json.loads(body)
    trace_id = json.loads(HEADERS)["x-trace-id"]
    return aio_pika.Message(
        body,
        content_type="application/cloudevents+json",
        message_id=event["id"],
        timestamp=datetime.fromisoformat(event["time"]),
        type=event["type"],
        app_id=event["source"],
        correlation_id=trace_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers={
            "ce-specversion": event["specversion"],
            "ce-id": event["id"],
            "ce-type": event["type"],
            "ce-source": event["source"],
            "ce-subject": event["subject"],
            "ce-time": event["time"],
            "x-trace-id": trace_id,
        },
    )


async def raw_round(count: int, batch: int, make: Callable[[bytes], aio_pika.Message]) -> float:
    """Messages built before the clock starts; batches published one after the other, each awaiting its confirms."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        messages = [make(cloudevent(uuid.uuid4(), uuid.uuid4()).encode()) for _ in range(count)]
        started = time.perf_counter()
        for first in range(0, count, batch):
            await asyncio.gather(
                *(
                    exchange.publish(message, routing_key="deal.updated", mandatory=True)
                    for message in messages[first : first + batch]
                )
            )
        return count / (time.perf_counter() - started)
    finally:
        await connection.close()


async def main(events: int, batch: int, rounds: int, in_flight: int) -> None:
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
        lead: list[float] = []
        sweep: list[float] = []
        raw: list[float] = []
        full: list[float] = []
        await sweep_round(pool, settings, batch)  # warm-up
        for _ in range(rounds):
            lead.append(await lead_round(pool, settings, events, in_flight))
            await queue.purge()
            sweep.append(await sweep_round(pool, settings, events))
            await queue.purge()
            raw.append(await raw_round(events, batch, bare_message))
            await queue.purge()
            full.append(await raw_round(events, batch, full_message))
            await queue.purge()
        await pool.close()
        raw_median, full_median = statistics.median(raw), statistics.median(full)
        for label, values in (("relay lead (crm-api)", lead), ("relay sweep (crm-worker)", sweep)):
            median = statistics.median(values)
            print(
                f"{label:<25} batch {batch}, in flight {in_flight}: median {median:6.0f} events/s"
                f" = {median / raw_median:6.1%} of raw bare, {median / full_median:6.1%} of raw same messages;"
                f" runs {[round(v) for v in values]}"
            )
        print(f"{'raw aio-pika, bare messages':<34}: median {raw_median:6.0f} msg/s; runs {[round(v) for v in raw]}")
        print(f"{'raw aio-pika, same messages':<34}: median {full_median:6.0f} msg/s; runs {[round(v) for v in full]}")
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
    parser.add_argument("--in-flight", type=int, default=2, help="batches awaiting their confirms at once")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.batch, arguments.rounds, arguments.in_flight))
