"""Fan-out of deal events to the SSE clients of every crm-api process.

The relay that holds the lead pushes each batch it has numbered to a ``Fanout``: straight into this
process's ``LocalHub`` when there is no Redis, else onto a Redis pub/sub channel that every process's
``RedisListener`` feeds into its own hub. Whatever a hub cannot hand over (a slow client, a fan-out that
reconnected) becomes a ``Resync``, and the client reads the gap back from the outbox, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Protocol
from uuid import UUID

import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from crm.domain.access import Access
from crm.domain.streams import Resync, StreamedEvent, Subscription
from crm.infrastructure.db.outbox import PgDealEventLog

log = structlog.get_logger(__name__)

QUEUE_SIZE = 1_000


class FanoutUnavailable(Exception):
    pass


class _Listener:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[StreamedEvent | Resync] = asyncio.Queue(QUEUE_SIZE)
        self._closed = asyncio.Event()

    def offer(self, item: StreamedEvent | Resync) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            # A client this far behind reads the rest from the outbox instead of holding memory.
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(Resync())

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(Resync())  # wakes a waiting next()

    async def next(self) -> StreamedEvent | Resync | None:
        if self._closed.is_set():
            return None
        item = await self._queue.get()
        return None if self._closed.is_set() else item


class LocalHub:
    """The SSE clients of this process."""

    def __init__(self) -> None:
        self._listeners: set[_Listener] = set()

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def deliver(self, events: Sequence[StreamedEvent]) -> None:
        for listener in self._listeners:
            for event in events:
                listener.offer(event)

    def resync(self) -> None:
        for listener in self._listeners:
            listener.offer(Resync())

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        listener = _Listener()
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)


class Fanout(Protocol):
    async def publish(self, events: Sequence[StreamedEvent]) -> None: ...


class LocalFanout:
    def __init__(self, hub: LocalHub) -> None:
        self._hub = hub

    async def publish(self, events: Sequence[StreamedEvent]) -> None:
        self._hub.deliver(events)


def _encode(events: Sequence[StreamedEvent]) -> bytes:
    return orjson.dumps([[e.sequence, e.routing_key, str(e.aggregate_id), e.cloudevent] for e in events])


def _decode(message: bytes) -> list[StreamedEvent]:
    return [
        StreamedEvent(sequence=sequence, routing_key=key, aggregate_id=UUID(aggregate_id), cloudevent=cloudevent)
        for sequence, key, aggregate_id, cloudevent in orjson.loads(message)
    ]


class RedisFanout:
    """One PUBLISH per batch on the channel every process listens to."""

    def __init__(self, client: aioredis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel

    async def publish(self, events: Sequence[StreamedEvent]) -> None:
        try:
            await self._client.publish(self._channel, _encode(events))
        except (RedisError, OSError) as exc:
            raise FanoutUnavailable(f"{type(exc).__name__}: {exc}") from exc


class RedisListener:
    """This process's one subscription to the channel, feeding its hub; reconnects with backoff."""

    def __init__(self, client: aioredis.Redis, channel: str, hub: LocalHub, *, max_backoff: float = 30.0) -> None:
        self._client = client
        self._channel = channel
        self._hub = hub
        self._max_backoff = max_backoff
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    self.subscribed.set()
                    if failures:
                        # Whatever was published while we were away is in the outbox.
                        self._hub.resync()
                        log.info("stream fan-out listening again", channel=self._channel)
                    failures = 0
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._hub.deliver(_decode(message["data"]))
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                failures += 1
                delay = min(self._max_backoff, 0.25 * 2**failures) * random.uniform(0.5, 1.0)
                log.warning("stream fan-out lost Redis", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)


class DealStream:
    """What the SSE route reads: live events of this process's hub, and replay from the outbox."""

    def __init__(self, hub: LocalHub, events: PgDealEventLog) -> None:
        self._hub = hub
        self._events = events

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._hub.subscribe()

    async def replay(
        self, after: int, deal_ids: Collection[UUID], types: Collection[str], limit: int, access: Access
    ) -> list[StreamedEvent]:
        return await self._events.after(after, limit, deal_ids, types, access)

    async def visible_deals(self, access: Access) -> frozenset[UUID]:
        return await self._events.visible_deals(access)

    async def latest_sequence(self) -> int:
        return await self._events.latest_sequence()
