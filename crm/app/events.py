"""Wiring of event delivery: the outbox relay, the deal stream's hub and its Redis fan-out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import asyncpg
import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from crm.app.config import Settings
from crm.infrastructure.db.outbox import OutboxStore, PgDealEventLog
from crm.infrastructure.events.publisher import BrokerPublisher
from crm.infrastructure.events.relay import STOP_GRACE, OutboxRelay, RelayState
from crm.infrastructure.events.stream import DealStream, Fanout, LocalFanout, LocalHub, RedisFanout, RedisListener

log = structlog.get_logger(__name__)

Component = dict[str, object]


def redis_client(url: str) -> aioredis.Redis:
    """A client that retries a command once on a connection that broke meanwhile (Redis restarted), so the first
    command after a restart is not reported as a failure, and checks idle connections before using them."""
    return aioredis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=10,
        socket_connect_timeout=2,
    )


def _publisher(settings: Settings) -> BrokerPublisher | None:
    if not settings.rabbitmq_url:
        return None
    return BrokerPublisher(settings.rabbitmq_url, settings.events_exchange)


class Supervised:
    """Background loops that must keep running: each is started again (after a pause) whenever it ends, and
    stopping them never waits on one for longer than a bound."""

    def __init__(self, grace: float = STOP_GRACE) -> None:
        self._grace = grace
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        self._tasks[name] = asyncio.create_task(self._keep_running(name, loop), name=name)

    def restart(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """A fresh run of ``loop``; the old one is cancelled and left to end on its own."""
        self._tasks[name].cancel()
        self.start(name, loop)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            _, left = await asyncio.wait(tasks, timeout=self._grace)
            if left:
                log.error("background loops did not stop in time", loops=sorted(task.get_name() for task in left))

    @staticmethod
    async def _keep_running(name: str, loop: Callable[[], Awaitable[None]]) -> None:
        failures = 0
        while True:
            try:
                await loop()
                log.error("background loop ended; starting it again", loop=name)
            except Exception:
                log.exception("background loop failed; starting it again", loop=name)
            failures += 1
            await asyncio.sleep(min(30.0, 0.5 * 2**failures))


@dataclass(frozen=True, slots=True)
class RelayFigures:
    published: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)  # failed rounds by sink
    restarts: int = 0
    lead: bool = False

    def plus(self, state: RelayState) -> RelayFigures:
        failures = dict(self.failures)
        for sink, count in state.failures.items():
            failures[sink] = failures.get(sink, 0) + count
        return RelayFigures(published=self.published + state.published, failures=failures, restarts=self.restarts)


class EventDelivery:
    """What crm-api runs in the background for events; started and stopped by the lifespan."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        assert settings.database_url is not None
        self._settings = settings
        self._store = OutboxStore(pool)
        events = PgDealEventLog(pool)
        self.hub = LocalHub()
        self.stream = DealStream(self.hub, events)
        self._redis = redis_client(settings.redis_url) if settings.redis_url else None
        self._listener: RedisListener | None = None
        fanout: Fanout
        if self._redis is not None:
            fanout = RedisFanout(self._redis, settings.stream_channel)
            self._listener = RedisListener(
                self._redis, settings.stream_channel, self.hub, max_backoff=settings.relay_max_backoff
            )
        else:
            fanout = LocalFanout(self.hub)
        database_url = settings.database_url

        def new_relay() -> OutboxRelay:
            return OutboxRelay(
                database_url,
                self._store,
                events,
                publisher=_publisher(settings),
                fanout=fanout,
                batch_size=settings.relay_batch_size,
                poll_interval=settings.relay_poll_interval,
                max_backoff=settings.relay_max_backoff,
            )

        self._new_relay = new_relay
        self.relay = new_relay() if settings.relay_enabled else None
        self._loops = Supervised()
        # Longer than any wait of a relay that works (its backoff, its poll timer): no progress for this long
        # while events wait is a stall.
        self._stall_after = timedelta(
            seconds=max(settings.relay_stall_after, 2 * settings.relay_max_backoff + settings.relay_poll_interval)
        )
        self.relay_restarts = 0
        # What relays replaced by the watchdog had counted, so the totals /metrics reports never go back.
        self._retired = RelayFigures()

    async def start(self) -> None:
        if self._listener is not None:
            self._loops.start("stream fan-out listener", self._listener.run)
            # Subscribed before serving, so no event published after start-up passes this process by.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listener.subscribed.wait(), timeout=5)
        if self.relay is not None:
            self._loops.start("outbox relay", self.relay.run)
            self._loops.start("outbox relay watchdog", self._watch_relay)
        if not self._settings.rabbitmq_url:
            log.warning("CRM_RABBITMQ_URL is not set: events wait in the outbox until a broker is configured")

    async def stop(self) -> None:
        await self._loops.stop()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._redis.aclose(), STOP_GRACE)

    async def _watch_relay(self) -> None:
        """Starts the relay afresh when it leads but stopped making progress (a stall no error reported)."""
        while True:
            await asyncio.sleep(self._stall_after.total_seconds() / 4)
            if await self._relay_stalled():
                stalled = self.relay
                assert stalled is not None
                log.error("outbox relay stalled; starting a new one", state=str(stalled.state))
                # The stalled relay is dropped whole: its lead connection closes at once (freeing the lead for
                # the new one), and whatever it still runs can no longer touch what the new one reports.
                stalled.abandon()
                self._retired = self._retired.plus(stalled.state)
                self.relay = self._new_relay()
                self.relay_restarts += 1
                self._loops.restart("outbox relay", self.relay.run)

    async def _relay_stalled(self, backlog: int | None = None) -> bool:
        assert self.relay is not None
        relay, now = self.relay, datetime.now(UTC)
        if relay.state.watch_stalled(now, self._stall_after):
            return True
        if not (relay.publishing and relay.state.broker_idle(now, self._stall_after)):
            return False
        if backlog is None:
            backlog = await asyncio.wait_for(self._store.backlog(), timeout=2)
        return backlog > 0

    def figures(self) -> RelayFigures:
        """The relay's counters since this process started (every relay it ran, added up), for /metrics."""
        if self.relay is None:
            return replace(self._retired, restarts=self.relay_restarts)
        total = self._retired.plus(self.relay.state)
        return replace(total, restarts=self.relay_restarts, lead=self.relay.state.role == "lead")

    async def check(self) -> dict[str, Component]:
        """Broker and Redis as /readyz reports them; neither makes the service unready (the outbox waits)."""
        return {"broker": await self._broker(), "redis": await self._redis_state()}

    async def _broker(self) -> Component:
        state: Component = {"required": False, "configured": self._settings.rabbitmq_url is not None}
        backlog: int | None = None
        try:
            backlog = await asyncio.wait_for(self._store.backlog(), timeout=2)
            state["backlog"] = backlog
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
        # Progress, not only state: a lead that stopped publishing while events wait is not healthy.
        stalled = backlog is not None and await self._relay_stalled(backlog)
        state.update(stalled=stalled, restarts=self.relay_restarts)
        if stalled:
            state["ok"] = False
        elif self._settings.rabbitmq_url is None:
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
        state: Component = {"required": False, "configured": True}
        if self.relay is not None and self.relay.state.role == "lead":
            state["stream_error"] = self.relay.state.stream_error
        try:
            await asyncio.wait_for(self._redis.ping(), timeout=2)
        except Exception as exc:
            return {**state, "ok": False, "error": type(exc).__name__}
        listening = self._listener is not None and self._listener.subscribed.is_set()
        return {**state, "ok": True, "listening": listening}


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
