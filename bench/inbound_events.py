"""Inbound events through the consumer: how fast a backlog of CloudEvents is journaled (deduplicated), against a
bare aio-pika consumer acknowledging the same messages.

Each round declares a fresh exchange and queues, publishes ``--events`` CloudEvents (≈ 300 bytes, structured mode,
persistent, confirmed) plus ``--repeats`` of them a second time (same ``id``: duplicates to skip), then times:

* **consumer**: crm-api's consumer (``crm.app.inbound.InboundEvents``, as the lifespan starts it, on its own pool)
  from start until every message was journaled or recognised as a duplicate; the journal must then hold exactly
  ``--events`` rows;
* **raw**: a bare aio-pika consumer with the same prefetch acknowledging the same backlog as the consumer does
  (one multiple acknowledgement per prefetch window) and doing nothing else: the broker's ceiling here.

Usage: .venv/bin/python bench/inbound_events.py [--events 20000] [--repeats 2000] [--prefetch 50] [--rounds 3]
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

import aio_pika
import asyncpg

from crm.app.config import Settings
from crm.app.inbound import InboundEvents, inbound_queues
from crm.app.main import inbound_event_service
from crm.app.wiring import Wiring, open_pool
from crm.infrastructure.db.migrations import upgrade_to_head
from crm.infrastructure.events.inbound_consumer import InboundQueues, declare_topology

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def cloudevent(event_id: str, n: int) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "billing",
            "type": "notifications.invoice.overdue",
            "subject": f"INV-{n}",
            "time": "2026-12-01T09:00:00+03:00",
            "datacontenttype": "application/json",
            "data": {"chatId": 100_000 + n, "invoice": f"INV-{n}", "amount": "1250.00", "currency": "RUB"},
        }
    ).encode()


async def publish_backlog(queues: InboundQueues, events: int, repeats: int) -> int:
    ids = [str(uuid.uuid4()) for _ in range(events)]
    bodies = [cloudevent(event_id, n) for n, event_id in enumerate(ids)]
    bodies += bodies[:repeats]
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await declare_topology(channel, queues)
        exchange = await channel.get_exchange(queues.exchange)
        for start in range(0, len(bodies), 1000):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            content_type="application/cloudevents+json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key="notifications.bench",
                    )
                    for body in bodies[start : start + 1000]
                )
            )
    finally:
        await connection.close()
    return len(bodies)


async def drop(queues: InboundQueues) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        for name in (queues.queue, queues.retry, queues.dead_letters):
            await channel.queue_delete(name)
        await channel.exchange_delete(queues.exchange)
    finally:
        await connection.close()


async def consumer_round(settings: Settings, events: int, repeats: int) -> float:
    queues = inbound_queues(settings)
    total = await publish_backlog(queues, events, repeats)
    pool = await open_pool(settings, application_name="bench-inbound", min_size=2, max_size=4)
    try:
        async with pool.acquire() as connection:
            await connection.execute("TRUNCATE crm.inbound_events")
        consumer = InboundEvents(settings, inbound_event_service(Wiring.of(pool, settings)))
        started = time.perf_counter()
        await consumer.start()
        progress = consumer.progress
        while progress.journaled + progress.duplicates < total:
            if progress.dead_lettered:
                raise RuntimeError(f"dead letters in a benchmark: {progress}")
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        await consumer.stop()
        async with pool.acquire() as connection:
            rows = await connection.fetchval("SELECT count(*) FROM crm.inbound_events")
        assert rows == events and progress.duplicates == repeats, (rows, progress)
        return total / elapsed
    finally:
        await pool.close()
        await drop(queues)


async def raw_round(settings: Settings, events: int, repeats: int) -> float:
    queues = inbound_queues(settings)
    total = await publish_backlog(queues, events, repeats)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=settings.notifications_prefetch)
        queue = await channel.declare_queue(queues.queue, passive=True)
        done = asyncio.Event()
        acked = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal acked
            acked += 1
            if acked % settings.notifications_prefetch == 0 or acked == total:
                await message.ack(multiple=True)
            if acked == total:
                done.set()

        started = time.perf_counter()
        await queue.consume(on_message)
        await done.wait()
        elapsed = time.perf_counter() - started
    finally:
        await connection.close()
        await drop(queues)
    return total / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2_000)
    parser.add_argument("--prefetch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    name = f"crm_bench_inbound_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        figures: dict[str, list[float]] = {"consumer": [], "raw": []}
        for round_ in range(1, args.rounds + 1):
            run = f"bench.inbound.{uuid.uuid4().hex[:8]}"
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                database_url=url,
                rabbitmq_url=AMQP_URL,
                notifications_exchange=f"{run}.exchange",
                notifications_queue_name=f"{run}.consumer",
                notifications_prefetch=args.prefetch,
            )
            figures["consumer"].append(await consumer_round(settings, args.events, args.repeats))
            raw = settings.model_copy(update={"notifications_queue_name": f"{run}.raw"})
            figures["raw"].append(await raw_round(raw, args.events, args.repeats))
            print(
                f"round {round_}: consumer {figures['consumer'][-1]:,.0f} msg/s, raw {figures['raw'][-1]:,.0f} msg/s",
                flush=True,
            )
        consumer, raw = statistics.median(figures["consumer"]), statistics.median(figures["raw"])
        print(
            f"median of {args.rounds}: consumer {consumer:,.0f} msg/s (journaled + deduplicated), "
            f"raw aio-pika ack {raw:,.0f} msg/s, ratio {consumer / raw:.2f} "
            f"({args.events} events + {args.repeats} repeats, prefetch {args.prefetch})"
        )
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
