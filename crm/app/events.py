"""Wiring of event delivery: the outbox relay, the deal stream's hub and its Redis fan-out."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from crm.app.config import Settings
from crm.infrastructure.db.outbox import OutboxStore, PgDealEventLog
from crm.infrastructure.events.publisher import BrokerPublisher
from crm.infrastructure.events.relay import OutboxRelay
from crm.infrastructure.events.stream import DealStream, Fanout, LocalFanout, LocalHub, RedisFanout, RedisListener

log = structlog.get_logger(__name__)

Component = dict[str, object]


def _publisher(settings: Settings) -> BrokerPublisher | None:
    if not settings.rabbitmq_url:
        return None
    return BrokerPublisher(settings.rabbitmq_url, settings.events_exchange)


class EventDelivery:
    """What crm-api runs in the background for events; started and stopped by the lifespan."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        assert settings.database_url is not None
        self._settings = settings
        self._store = OutboxStore(pool)
        events = PgDealEventLog(pool)
        self.hub = LocalHub()
        self.stream = DealStream(self.hub, events)
        self._redis = aioredis.Redis.from_url(settings.redis_url) if settings.redis_url else None
        self._listener: RedisListener | None = None
        fanout: Fanout
        if self._redis is not None:
            fanout = RedisFanout(self._redis, settings.stream_channel)
            self._listener = RedisListener(
                self._redis, settings.stream_channel, self.hub, max_backoff=settings.relay_max_backoff
            )
        else:
            fanout = LocalFanout(self.hub)
        self.relay: OutboxRelay | None = None
        if settings.relay_enabled:
            self.relay = OutboxRelay(
                settings.database_url,
                self._store,
                events,
                publisher=_publisher(settings),
                fanout=fanout,
                batch_size=settings.relay_batch_size,
                poll_interval=settings.relay_poll_interval,
                max_backoff=settings.relay_max_backoff,
            )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._listener is not None:
            self._tasks.append(asyncio.create_task(self._listener.run(), name="stream fan-out listener"))
            # Subscribed before serving, so no event published after start-up passes this process by.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listener.subscribed.wait(), timeout=5)
        if self.relay is not None:
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox relay"))
        if not self._settings.rabbitmq_url:
            log.warning("CRM_RABBITMQ_URL is not set: events wait in the outbox until a broker is configured")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._redis is not None:
            await self._redis.aclose()

    async def check(self) -> dict[str, Component]:
        """Broker and Redis as /readyz reports them; neither makes the service unready (the outbox waits)."""
        return {"broker": await self._broker(), "redis": await self._redis_state()}

    async def _broker(self) -> Component:
        state: Component = {"required": False, "configured": self._settings.rabbitmq_url is not None}
        try:
            state["backlog"] = await asyncio.wait_for(self._store.backlog(), timeout=2)
        except Exception as exc:
            # Reported, never raised: readiness answers whatever it could not read.
            state["backlog_error"] = type(exc).__name__
        if self.relay is None:
            state.update(ok=self._settings.rabbitmq_url is None, relay="disabled")
            return state
        relay = self.relay.state
        state.update(relay=relay.role, published=relay.published, last_error=relay.last_error)
        if relay.last_published_at is not None:
            state["last_published_at"] = relay.last_published_at.isoformat()
        if self._settings.rabbitmq_url is None:
            state["ok"] = True
        elif relay.role == "lead":
            # Unknown until the first publish: only a failed one makes the broker not ok.
            state.update(ok=relay.broker_connected is not False, connected=relay.broker_connected)
        else:
            state["ok"] = relay.role in ("starting", "standby")
        return state

    async def _redis_state(self) -> Component:
        if self._redis is None:
            return {"required": False, "configured": False, "ok": True}
        try:
            await asyncio.wait_for(self._redis.ping(), timeout=2)
        except (RedisError, OSError, TimeoutError) as exc:
            return {"required": False, "configured": True, "ok": False, "error": type(exc).__name__}
        listening = self._listener is not None and self._listener.subscribed.is_set()
        return {"required": False, "configured": True, "ok": True, "listening": listening}


async def sweep_outbox(pool: asyncpg.Pool, settings: Settings) -> int:
    """crm-worker's backstop: publish what waits if no crm-api relay leads. Returns how many were published."""
    assert settings.database_url is not None
    relay = OutboxRelay(
        settings.database_url,
        OutboxStore(pool),
        PgDealEventLog(pool),
        publisher=_publisher(settings),
        fanout=None,
        batch_size=settings.relay_batch_size,
    )
    return max(await relay.sweep(), 0)
