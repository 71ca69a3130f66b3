"""What the inbound events tests share: a run's own exchange and queues, CloudEvents to publish, the journal."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aio_pika
import asyncpg

from crm.app.config import Settings
from crm.infrastructure.events.inbound_consumer import InboundQueues, declare_topology

ROUTING_KEY = "notifications.test"


def inbound_settings(settings: Settings, broker_url: str, run_id: str, **overrides: Any) -> Settings:
    """``settings`` with a consumer on an exchange and queue of this test's own, retrying quickly."""
    name = f"notifications.test.{run_id}.{uuid.uuid4().hex[:6]}"
    return settings.model_copy(
        update={
            "rabbitmq_url": broker_url,
            "notifications_exchange": f"{name}.exchange",
            "notifications_queue_name": f"{name}.events",
            "notifications_retry_delay": 0.05,
            "notifications_retry_max_delay": 0.2,
            **overrides,
        }
    )


def queues_of(settings: Settings) -> InboundQueues:
    return InboundQueues(settings.notifications_exchange, settings.notifications_queue_name)


def cloudevent(event_id: str | None = None, **data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "tests",
        "type": "notifications.test",
        "time": "2026-12-01T09:00:00+00:00",
        "datacontenttype": "application/json",
        "data": data,
    }


def message(body: bytes | dict[str, Any], **properties: Any) -> aio_pika.Message:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    properties.setdefault("content_type", "application/cloudevents+json")
    return aio_pika.Message(raw, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties)


@contextlib.asynccontextmanager
async def topology(url: str, queues: InboundQueues) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A confirming channel on the declared exchange and queues; all of them are deleted at the end."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        await declare_topology(channel, queues)
        yield channel
    finally:
        with contextlib.suppress(Exception):
            cleanup = await connection.channel()
            for name in (queues.queue, queues.retry, queues.dead_letters):
                await cleanup.queue_delete(name)
            await cleanup.exchange_delete(queues.exchange)
        with contextlib.suppress(Exception):
            await connection.close()


async def publish(
    channel: aio_pika.abc.AbstractChannel, queues: InboundQueues, messages: Iterable[aio_pika.Message]
) -> None:
    exchange = await channel.get_exchange(queues.exchange)
    for each in messages:
        await exchange.publish(each, routing_key=ROUTING_KEY)


async def take_all(channel: aio_pika.abc.AbstractChannel, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every message now in ``queue``, taken out of it."""
    declared = await channel.declare_queue(queue, passive=True)
    taken = []
    while (got := await declared.get(no_ack=True, fail=False)) is not None:
        taken.append(got)
    return taken


async def depth(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def journaled(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM crm.inbound_events"))
