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
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import structlog

from crm.infrastructure.db.outbox import NOTIFY_CHANNEL, NOTIFY_WINDOW, OutboxStore, PendingEvent, PgDealEventLog
from crm.infrastructure.db.pool import asyncpg_dsn
from crm.infrastructure.events.publisher import BrokerPublisher, BrokerUnavailable, PublishOutcome
from crm.infrastructure.events.stream import Fanout

log = structlog.get_logger(__name__)
T = TypeVar("T")

# pg_try_advisory_lock key of the lead: "crm.outbox" as a 64-bit number, fixed so every version agrees.
LEAD_LOCK = 0x63726D2E6F7574

# The pool is shared with requests: while the database is away a sink waits like it waits for the broker.
DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# The longest one sink round (a batch published with its confirms, or pushed to Redis) may take. A round that
# takes longer is abandoned and retried: nothing here waits on a third-party await that may never return.
ROUND_TIMEOUT = 30.0
# A broker that is away is probed at least this often, so publishing resumes within seconds of its return.
BROKER_PROBE_INTERVAL = 2.0
# How long the lead waits for its sinks to stop when its term ends, before it leaves them behind.
STOP_GRACE = 5.0


@dataclass(slots=True)
class RelayState:
    """What /readyz reports: the relay's role, and the progress of each of its loops, not only their state."""

    role: str = "starting"
    lead_since: datetime | None = None
    last_round_at: datetime | None = None  # the lead last looked for newly settled rows
    broker_connected: bool | None = None  # None: nothing published yet since it took the lead
    broker_attempt_at: datetime | None = None  # the broker sink last tried to publish, with or without luck
    last_published_at: datetime | None = None
    last_error: str | None = None  # the broker sink's, cleared once it publishes again
    stream_error: str | None = None  # the stream sink's (Redis), cleared once it pushes again
    published: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # failed rounds by sink ("broker", "stream"), for /metrics

    def watch_stalled(self, now: datetime, bound: timedelta) -> bool:
        """A lead whose watching loop has not looked for new rows for longer than ``bound``."""
        return (
            self.role == "lead"
            and self.lead_since is not None
            and now - (self.last_round_at or self.lead_since) > bound
        )

    def broker_idle(self, now: datetime, bound: timedelta) -> bool:
        """A lead whose broker sink has not tried to publish for longer than ``bound``: stalled if events wait.
        Waiting for a broker that is away is not idle: the sink keeps probing it."""
        if self.role != "lead" or self.lead_since is None:
            return False
        return now - (self.broker_attempt_at or self.lead_since) > bound


class _Backoff:
    def __init__(self, maximum: float) -> None:
        self._maximum = maximum
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        return float(min(self._maximum, 0.25 * 2**self.failures) * random.uniform(0.5, 1.0))

    def reset(self) -> None:
        self.failures = 0


@dataclass(slots=True)
class _Batch:
    events: list[PendingEvent]
    publishing: asyncio.Future[list[PublishOutcome]]
    taken: list[PublishOutcome]


@dataclass(slots=True)
class _Pipeline:
    """The broker sink's batches awaiting their confirms, oldest first, and how far it has read."""

    read_after: int | None = None  # None: read the cursor first
    in_flight: deque[_Batch] = field(default_factory=deque)

    def reset(self) -> None:
        """Forgets every batch in flight (cancelling what still runs); the next read starts at the cursor."""
        for batch in self.in_flight:
            batch.publishing.cancel()
            batch.publishing.add_done_callback(_consume)
        self.in_flight.clear()
        self.read_after = None


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
        max_in_flight: int = 2,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._store = store
        self._events = events
        self._publisher = publisher
        self._fanout = fanout
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._max_in_flight = max(1, max_in_flight)
        self._pipeline = _Pipeline()
        self.state = RelayState()
        self._connection: asyncpg.Connection | None = None

    async def run(self) -> None:
        """Leads when it can, stands by otherwise, until cancelled."""
        backoff = _Backoff(self._max_backoff)
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    timeout=10,
                    command_timeout=ROUND_TIMEOUT,
                    server_settings={"application_name": "crm outbox relay"},
                )
            except DATABASE_ERRORS as exc:
                self.state.role, self.state.last_error = "disconnected", f"database: {exc}"
                await asyncio.sleep(backoff.next_delay())
                continue
            self._connection = connection
            try:
                backoff.reset()
                while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", LEAD_LOCK):
                    self.state.role = "standby"
                    await asyncio.sleep(self._poll_interval)
                self.state.role, self.state.lead_since = "lead", _now()
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
                self.state.lead_since = None
                self._connection = None
                self._pipeline.reset()
                connection.terminate()
                if self._publisher is not None:
                    await _bounded(self._publisher.close(), STOP_GRACE)
                self.state.broker_connected = None

    @property
    def publishing(self) -> bool:
        return self._publisher is not None

    def abandon(self) -> None:
        """Drop the lead connection at once (and with it the lead), whatever the relay's task is doing."""
        if self._connection is not None:
            self._connection.terminate()

    async def sweep(self) -> int:
        """One round if nobody leads (crm-worker's backstop): publish what waits. -1: someone leads."""
        connection = await asyncpg.connect(self._dsn, timeout=10)
        try:
            if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", LEAD_LOCK):
                return -1
            published = 0
            if self._publisher is not None:
                self._pipeline.reset()
                try:
                    while batch := await self._publish_batch():
                        published += batch
                finally:
                    self._pipeline.reset()
                    await self._publisher.close()
            return published
        finally:
            connection.terminate()

    async def _lead(self, connection: asyncpg.Connection) -> None:
        """One term as the lead; returns (or raises) when the lead connection is lost.

        The sinks run as tasks of their own and stop on a signal, not on a cancellation alone: a third-party
        await (redis-py's publish under a socket timeout) has been seen to swallow one. Leaving the term never
        waits on them for longer than ``STOP_GRACE``.
        """
        wake = asyncio.Event()

        def on_notify(*_: object) -> None:
            wake.set()

        await connection.add_listener(NOTIFY_CHANNEL, on_notify)
        self._pipeline.reset()
        # A lead that died may have left settled events it never pushed: push the last batch again. Every client
        # drops what it already has by sequence, so only the ones that missed an event see it.
        streamed = await self._events.before_last(self._batch_size)
        sinks: list[tuple[str, Callable[[], Awaitable[int]], float]] = []
        if self._publisher is not None:
            sinks.append(("broker", self._publish_batch, min(self._max_backoff, BROKER_PROBE_INTERVAL)))
        if self._fanout is not None:
            fanout = self._fanout

            async def push_stream() -> int:
                nonlocal streamed
                events = await self._events.after(streamed, self._batch_size)
                if events:
                    await fanout.publish(events)
                    streamed = events[-1].sequence
                self.state.stream_error = None
                return len(events)

            sinks.append(("stream", push_stream, self._max_backoff))
        stopping = asyncio.Event()
        due = [asyncio.Event() for _ in sinks]
        for event in due:
            event.set()  # what an earlier lead left behind
        tasks = [
            asyncio.create_task(self._drain(name, sink, sink_due, stopping, max_backoff), name=f"relay {name} sink")
            for (name, sink, max_backoff), sink_due in zip(sinks, due, strict=True)
        ]
        watching = asyncio.create_task(self._watch(connection, wake, due), name="relay watching")
        try:
            done, _ = await asyncio.wait([watching, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # the reason the term ended, raised
            raise RuntimeError("a relay loop ended")  # pragma: no cover - loops end only by raising
        finally:
            stopping.set()
            for task in (watching, *tasks):
                task.cancel()
            self._pipeline.reset()
            _, left = await asyncio.wait([watching, *tasks], timeout=STOP_GRACE)
            if left:
                log.error("relay loops did not stop; left behind", loops=sorted(task.get_name() for task in left))

    async def _watch(self, connection: asyncpg.Connection, wake: asyncio.Event, due: list[asyncio.Event]) -> None:
        """Tells the sinks when rows have settled; raises when the lead connection is lost."""
        latest = -1
        while True:
            wake.clear()
            settled, waiting = await self._store.progress(connection)
            self.state.last_round_at = _now()
            moved = settled != latest
            if moved:
                latest = settled
                for event in due:
                    event.set()
            # While writes flow, look again after one NOTIFY window: writers skip NOTIFY within it, and a row
            # that committed settles only once the transactions older than its own have ended (its NOTIFY may
            # come first). Otherwise the poll timer is the fallback for a lost NOTIFY. Sinks retry their own
            # failures (``_drain``).
            timeout = NOTIFY_WINDOW if moved or waiting else self._poll_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)

    async def _drain(
        self,
        name: str,
        sink: Callable[[], Awaitable[int]],
        due: asyncio.Event,
        stopping: asyncio.Event,
        max_backoff: float,
    ) -> None:
        """Runs ``sink`` until it has nothing left whenever ``due`` is set, until ``stopping``; backs off while it
        fails. Each round is bounded in time, and any failure is retried: the sink never dies of one."""
        backoff = _Backoff(max_backoff)
        while not stopping.is_set():
            await _first(due, stopping)
            if stopping.is_set():
                return
            due.clear()
            try:
                while not stopping.is_set() and await _bounded(sink(), ROUND_TIMEOUT) == self._batch_size:
                    pass
                backoff.reset()
            except Exception as exc:
                delay = backoff.next_delay()
                error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
                self.state.failures[name] = self.state.failures.get(name, 0) + 1
                if name == "stream":
                    self.state.stream_error = error
                else:
                    self.state.last_error = error
                log.warning("event delivery paused", sink=name, error=error, retry_in=round(delay, 2))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                due.set()

    async def _publish_batch(self) -> int:
        """Reads the next batch and hands it to the broker while earlier ones await their confirms; settles the
        oldest batches (moving the cursor) while more than ``max_in_flight`` are out, and all of them once there
        is no full batch left to read. Returns how many events it read: a full batch means there may be more."""
        assert self._publisher is not None
        self.state.broker_attempt_at = _now()
        pipeline = self._pipeline
        try:
            if pipeline.read_after is None:
                pipeline.read_after = await self._store.cursor()
            pending = await self._store.pending(pipeline.read_after, self._batch_size)
            if pending:
                taken: list[PublishOutcome] = []
                publishing = asyncio.ensure_future(self._publisher.publish(pending, taken))
                pipeline.in_flight.append(_Batch(pending, publishing, taken))
                pipeline.read_after = pending[-1].sequence
            caught_up = len(pending) < self._batch_size
            while pipeline.in_flight and (caught_up or len(pipeline.in_flight) >= self._max_in_flight):
                await self._settle(pipeline.in_flight[0])
                pipeline.in_flight.popleft()
        except BaseException:
            pipeline.reset()
            raise
        return len(pending)

    async def _settle(self, batch: _Batch) -> None:
        """Waits for one batch's confirms and moves the cursor over what the broker took, in sequence order."""
        try:
            outcomes = await batch.publishing
        except BrokerUnavailable:
            self.state.broker_connected = False
            await self._keep_taken(batch.events, batch.taken)
            raise
        except BaseException:
            # Cut off midway (the lead's term ended): what the broker already took is kept all the same, so
            # whoever publishes next goes on from there instead of sending it again. Under repeated cuts
            # shorter than a batch the relay would otherwise send the same first rows over and over.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._keep_taken(batch.events, batch.taken), STOP_GRACE)
            raise
        self.state.broker_connected = True
        self.state.last_error = None
        nacked = [o for o in outcomes if not o.confirmed]
        await self._keep_taken(batch.events, [o for o in outcomes if o.confirmed])
        if nacked:
            raise BrokerUnavailable(f"broker refused {len(nacked)} events: {nacked[0].error or 'nacked'}")

    async def _keep_taken(self, events: list[PendingEvent], taken: list[PublishOutcome]) -> None:
        """Moves the cursor over the first events of the batch the broker took (confirmed, or returned because
        no queue is bound for it), up to the first it did not: the cursor means "everything up to here"."""
        took = {o.event.sequence for o in taken}
        kept = 0
        for event in events:
            if event.sequence not in took:
                break
            kept += 1
        unroutable = [o.event.sequence for o in taken if o.unroutable]
        if unroutable:
            # The broker took them, but no queue is bound for their routing keys: recorded, not retried.
            await self._store.note_unroutable(unroutable, "unroutable: no queue bound for this routing key")
            log.warning("events reached no queue", count=len(unroutable))
        if kept:
            await self._store.advance(events[kept - 1].sequence)
        if taken:
            self.state.published += len(taken)
            self.state.last_published_at = datetime.now(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


async def _first(*events: asyncio.Event) -> None:
    """Waits until one of ``events`` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _bounded(work: Awaitable[T], seconds: float) -> T:
    """``work``'s result, or ``TimeoutError`` after ``seconds``. The work runs as a task of its own and is not
    waited for past the bound: a third-party await that swallows its cancellation cannot hold the caller."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait([task], timeout=seconds)
    except BaseException:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_consume)
        raise TimeoutError(f"no answer within {seconds:g} s")
    return task.result()


def _consume(task: asyncio.Future[Any]) -> None:
    """Collects the outcome of abandoned work, so asyncio does not report it as never retrieved."""
    if not task.cancelled():
        task.exception()
