"""The outbox relay: the only publisher of events.

Every crm-api process runs one; the one holding a PostgreSQL session advisory lock leads, the others stand
by and try again every poll interval (the lock goes with its connection, so a dead leader frees it). The
lead wakes on ``NOTIFY crm_outbox`` (sent by each committing transaction) or on its poll timer, numbers the
new rows with the publication ``sequence``, and two sinks take them from there, each at its own pace:
the broker sink publishes unpublished rows in sequence order and marks them published after the confirms,
backing off while the broker is away; the stream sink pushes deal events to the SSE fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog

from crm.infrastructure.db.outbox import NOTIFY_CHANNEL, NOTIFY_WINDOW, OutboxStore, PgDealEventLog
from crm.infrastructure.db.pool import asyncpg_dsn
from crm.infrastructure.events.publisher import BrokerPublisher, BrokerUnavailable
from crm.infrastructure.events.stream import Fanout, FanoutUnavailable

log = structlog.get_logger(__name__)

# pg_try_advisory_lock key of the lead: "crm.outbox" as a 64-bit number, fixed so every version agrees.
LEAD_LOCK = 0x63726D2E6F7574

# The pool is shared with requests: while the database is away a sink waits like it waits for the broker.
DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(slots=True)
class RelayState:
    """What /readyz reports."""

    role: str = "starting"
    broker_connected: bool | None = None  # None: nothing published yet since it took the lead
    last_published_at: datetime | None = None
    last_error: str | None = None
    published: int = 0


class _Backoff:
    def __init__(self, maximum: float) -> None:
        self._maximum = maximum
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        return float(min(self._maximum, 0.25 * 2**self.failures) * random.uniform(0.5, 1.0))

    def reset(self) -> None:
        self.failures = 0


class OutboxRelay:
    def __init__(
        self,
        database_url: str,
        store: OutboxStore,
        events: PgDealEventLog,
        *,
        publisher: BrokerPublisher | None,
        fanout: Fanout | None,
        batch_size: int = 500,
        poll_interval: float = 2.0,
        max_backoff: float = 30.0,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._store = store
        self._events = events
        self._publisher = publisher
        self._fanout = fanout
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self.state = RelayState()

    async def run(self) -> None:
        """Leads when it can, stands by otherwise, until cancelled."""
        backoff = _Backoff(self._max_backoff)
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn, timeout=10, server_settings={"application_name": "crm outbox relay"}
                )
            except DATABASE_ERRORS as exc:
                self.state.role, self.state.last_error = "disconnected", f"database: {exc}"
                await asyncio.sleep(backoff.next_delay())
                continue
            try:
                backoff.reset()
                while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", LEAD_LOCK):
                    self.state.role = "standby"
                    await asyncio.sleep(self._poll_interval)
                self.state.role = "lead"
                log.info("outbox relay leads", broker=self._publisher is not None, fanout=self._fanout is not None)
                await self._lead(connection)
            except Exception as exc:
                # A relay must outlive any failure: a lost database connection (which also frees the lead)
                # or a bug in one round. It logs, waits and competes for the lead again.
                self.state.role, self.state.last_error = "disconnected", f"{type(exc).__name__}: {exc}"
                log.warning("outbox relay restarts", error=repr(exc))
                await asyncio.sleep(backoff.next_delay())
            finally:
                self.state.role = "stopped" if self.state.role == "lead" else self.state.role
                connection.terminate()
                if self._publisher is not None:
                    await self._publisher.close()
                self.state.broker_connected = None

    async def sweep(self) -> int:
        """One round if nobody leads (crm-worker's backstop): number and publish what waits. -1: someone leads."""
        connection = await asyncpg.connect(self._dsn, timeout=10)
        try:
            if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", LEAD_LOCK):
                return -1
            published = 0
            while await self._store.number_new(connection, self._batch_size):
                pass
            if self._publisher is not None:
                try:
                    while batch := await self._publish_batch():
                        published += batch
                finally:
                    await self._publisher.close()
            return published
        finally:
            connection.terminate()

    async def _lead(self, connection: asyncpg.Connection) -> None:
        wake = asyncio.Event()

        def on_notify(*_: object) -> None:
            wake.set()

        await connection.add_listener(NOTIFY_CHANNEL, on_notify)
        # A lead that died (or a sweep) may have numbered events it never pushed: push the last batch again.
        # Every client drops what it already has by sequence, so only the ones that missed an event see it.
        streamed = max(0, await self._events.latest_sequence() - self._batch_size)
        sinks: list[Callable[[], Awaitable[int]]] = []
        if self._publisher is not None:
            sinks.append(self._publish_batch)
        if self._fanout is not None:
            fanout = self._fanout

            async def push_stream() -> int:
                nonlocal streamed
                events = await self._events.after(streamed, self._batch_size)
                if events:
                    await fanout.publish(events)
                    streamed = events[-1].sequence
                return len(events)

            sinks.append(push_stream)
        due = [asyncio.Event() for _ in sinks]
        for event in due:
            event.set()  # what an earlier lead numbered and left behind
        async with asyncio.TaskGroup() as group:
            for sink, sink_due in zip(sinks, due, strict=True):
                group.create_task(self._drain(sink, sink_due))
            while True:
                wake.clear()
                numbered = await self._store.number_new(connection, self._batch_size)
                if numbered:
                    for event in due:
                        event.set()
                if numbered == self._batch_size:
                    continue
                # While writes flow, look again after one NOTIFY window: writers skip NOTIFY within it. Otherwise
                # the poll timer is the fallback for a lost NOTIFY. Sinks retry their own failures (``_drain``).
                timeout = NOTIFY_WINDOW if numbered else self._poll_interval
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)

    async def _drain(self, sink: Callable[[], Awaitable[int]], due: asyncio.Event) -> None:
        """Runs ``sink`` until it has nothing left whenever ``due`` is set; backs off while it fails."""
        backoff = _Backoff(self._max_backoff)
        while True:
            await due.wait()
            due.clear()
            try:
                while await sink() == self._batch_size:
                    pass
                backoff.reset()
            except (BrokerUnavailable, FanoutUnavailable, *DATABASE_ERRORS) as exc:
                delay = backoff.next_delay()
                self.state.last_error = str(exc)
                log.warning("event delivery paused", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                due.set()

    async def _publish_batch(self) -> int:
        assert self._publisher is not None
        pending = await self._store.unpublished(self._batch_size)
        if not pending:
            return 0
        try:
            outcomes = await self._publisher.publish(pending)
        except BrokerUnavailable as exc:
            self.state.broker_connected = False
            await self._store.record_failure([event.id for event in pending], str(exc))
            raise
        self.state.broker_connected = True
        self.state.last_error = None
        confirmed = [o.event.id for o in outcomes if o.confirmed and not o.unroutable]
        unroutable = [o.event.id for o in outcomes if o.unroutable]
        nacked = [o for o in outcomes if not o.confirmed]
        if confirmed:
            await self._store.mark_published(confirmed)
        if unroutable:
            # The broker took them, but no queue is bound for their routing keys: recorded, not retried.
            await self._store.mark_published(unroutable, note="unroutable: no queue bound for this routing key")
            log.warning("events reached no queue", count=len(unroutable))
        if nacked:
            await self._store.record_failure([o.event.id for o in nacked], nacked[0].error or "nacked")
            raise BrokerUnavailable(f"broker refused {len(nacked)} events")
        self.state.published += len(outcomes)
        self.state.last_published_at = datetime.now(UTC)
        return len(pending)
