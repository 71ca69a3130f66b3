"""The inbound events consumer's AMQP side: its queues, one connection's consuming loop, retries and dead letters.

Queues (all durable):
- ``<queue>`` (quorum), bound with ``notifications.*`` to the topic exchange: what other systems send;
- ``<queue>.retry`` (classic): a failed event's copy waits there for its per-message TTL, then RabbitMQ
  dead-letters it back into ``<queue>`` (backoff without a timer of ours that a restart would lose);
- ``<queue>.dlq`` (quorum): events given up on, with the reason in the ``x-crm-reason`` header.

A message is acknowledged only once its outcome is safe: its transaction committed, or its copy was confirmed
by the broker in the retry or dead-letter queue. Whatever happens before (a crash, a lost connection), the
broker delivers it again, and the journal's deduplication keeps a repeat from being processed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from crm.domain.errors import Unavailable
from crm.domain.notifications.inbound import InvalidInboundEvent
from crm.domain.notifications.inbound_repository import InboundEvent, Transport

log = structlog.get_logger(__name__)

BINDING_KEY = "notifications.*"
REASON = "x-crm-reason"
ATTEMPTS = "x-crm-attempts"
LAST_ERROR = "x-crm-last-error"
ROUTING_KEY = "x-crm-routing-key"
DEAD_LETTERED_AT = "x-crm-dead-lettered-at"
# Set by quorum queues on a message delivered again after a consumer died (or a connection broke) holding it.
DELIVERY_COUNT = "x-delivery-count"
# Broker bookkeeping of the original delivery, not of its copy.
_DROPPED_HEADERS = (DELIVERY_COUNT, "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason")
_DATABASE_BACKOFF_CAP = 10.0


@dataclass(frozen=True, slots=True)
class InboundQueues:
    exchange: str
    queue: str

    @property
    def retry(self) -> str:
        return f"{self.queue}.retry"

    @property
    def dead_letters(self) -> str:
        return f"{self.queue}.dlq"


# The broker's own backstop behind the consumer's count (CRM_NOTIFICATIONS_MAX_DELIVERIES, at most 100): a message
# handed out this often goes to the dead letters, never dropped (RabbitMQ 4 gives quorum queues a default limit
# of 20 and drops past it when no dead-letter target is set). Fixed, as a queue's arguments cannot change.
BROKER_DELIVERY_LIMIT = 200


def _dead_lettering_to(queue: str) -> dict[str, Any]:
    """Quorum queue arguments that move what the queue gives up on to ``queue`` at least once: a copy is kept
    until the target confirms it, and the source refuses new messages rather than drop old ones when full."""
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare_topology(channel: AbstractChannel, queues: InboundQueues) -> AbstractQueue:
    """Declares (idempotently) the exchange, the three queues and the binding; the queue to consume."""
    exchange = await channel.declare_exchange(queues.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    await channel.declare_queue(queues.dead_letters, durable=True, arguments={"x-queue-type": "quorum"})
    # Waiting copies expire (per-message TTL) back into the queue they came from.
    await channel.declare_queue(queues.retry, durable=True, arguments=_dead_lettering_to(queues.queue))
    queue = await channel.declare_queue(
        queues.queue,
        durable=True,
        arguments={**_dead_lettering_to(queues.dead_letters), "x-delivery-limit": BROKER_DELIVERY_LIMIT},
    )
    await queue.bind(exchange, BINDING_KEY)
    return queue


@dataclass
class InboundProgress:
    """What the consumer did since its process started: reported by the health route and /readyz."""

    state: str = "stopped"
    consumed: int = 0
    journaled: int = 0
    duplicates: int = 0
    failed: int = 0  # tries that failed (each one then retried or dead-lettered)
    retried: int = 0
    dead_lettered: int = 0
    malformed: int = 0
    connects: int = 0
    database_waits: int = 0
    last_message_at: datetime | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["last_message_at"] = None if self.last_message_at is None else self.last_message_at.isoformat()
        return body


class InboundHandler(Protocol):
    def read(self, body: bytes, headers: Mapping[str, str], transport: Transport) -> InboundEvent: ...

    async def journal(self, events: Sequence[InboundEvent]) -> list[bool]: ...


class Stopping(Exception):
    """The consumer was told to stop while it waited for the database: what it holds goes back unacknowledged."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_deliveries: int
    first_delay: float
    max_delay: float

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones."""
        return float(min(self.max_delay, self.first_delay * 2 ** (attempts - 1)))


class InboundConsumer:
    """One connection's life: connect, declare, consume in batches of what arrived together, until ``stopping``
    is set (``run`` returns) or the connection fails (``run`` raises; the caller connects again)."""

    def __init__(
        self,
        url: str,
        queues: InboundQueues,
        handler: InboundHandler,
        *,
        prefetch: int,
        retry: RetryPolicy,
        progress: InboundProgress,
        stopping: asyncio.Event,
        connect_timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._queues = queues
        self._handler = handler
        self._prefetch = prefetch
        self._retry = retry
        self._progress = progress
        self._stopping = stopping
        self._connect_timeout = connect_timeout

    async def run(self) -> None:
        connection = await aio_pika.connect(
            self._url, timeout=self._connect_timeout, client_properties={"connection_name": "crm inbound events"}
        )
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await channel.set_qos(prefetch_count=self._prefetch)
            queue = await declare_topology(channel, self._queues)
            inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
            consumer_tag = await queue.consume(inbox.put, no_ack=False)
            self._progress.connects += 1
            self._progress.state = "consuming"
            log.info("inbound events consumer consuming", queue=self._queues.queue)
            try:
                while not self._stopping.is_set():
                    # A plain (not robust) connection only says it was lost through ``connected``.
                    if connection.is_closed or not connection.connected.is_set() or channel.is_closed:
                        raise ConnectionError("the broker connection closed")
                    try:
                        first = await asyncio.wait_for(inbox.get(), timeout=0.5)
                    except TimeoutError:
                        continue
                    await self._process(channel, self._batch(first, inbox))
                # Stop taking new messages, then finish those already delivered: a graceful stop hands nothing
                # back to the broker (which would count it as a failed delivery).
                await queue.cancel(consumer_tag)
                while not inbox.empty():
                    await self._process(channel, self._batch(inbox.get_nowait(), inbox))
            except Stopping:
                log.warning("inbound events consumer stopped while waiting for the database", held=inbox.qsize())
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=5)

    def _batch(
        self, first: AbstractIncomingMessage, inbox: asyncio.Queue[AbstractIncomingMessage]
    ) -> list[AbstractIncomingMessage]:
        batch = [first]
        while len(batch) < self._prefetch and not inbox.empty():
            batch.append(inbox.get_nowait())
        return batch

    async def _process(self, channel: AbstractChannel, messages: list[AbstractIncomingMessage]) -> None:
        readable: list[tuple[AbstractIncomingMessage, InboundEvent]] = []
        now = datetime.now(UTC)
        for message in messages:
            self._progress.consumed += 1
            self._progress.last_message_at = now
            deliveries = _int(message.headers.get(DELIVERY_COUNT))
            if deliveries >= self._retry.max_deliveries:
                # A message whose consumer died holding it, again and again (maybe it is what kills it).
                await self._dead_letter(
                    channel, message, f"delivered {deliveries + 1} times without an answer (its consumer died)"
                )
                continue
            try:
                event = self._handler.read(message.body, _ce_headers(message), Transport.AMQP)
            except InvalidInboundEvent as exc:
                self._progress.malformed += 1
                await self._dead_letter(channel, message, f"malformed: {exc.field}: {exc.reason}")
                continue
            readable.append((message, event))
        if readable:
            await self._journal(channel, readable)
        # Every message of the batch has its outcome now (committed, or its copy confirmed in the retry or dead-
        # letter queue), and every earlier delivery had its own: one acknowledgement covers the batch.
        await messages[-1].ack(multiple=True)

    async def _journal(
        self, channel: AbstractChannel, items: list[tuple[AbstractIncomingMessage, InboundEvent]]
    ) -> None:
        try:
            outcomes = await self._journal_when_database_answers([event for _, event in items])
        except Stopping:
            raise
        except Exception as exc:
            if len(items) > 1:
                # One event of the batch failed it: each goes again alone, so only that one is retried.
                for item in items:
                    await self._journal(channel, [item])
                return
            await self._retry_or_dead_letter(channel, items[0][0], exc)
            return
        for new in outcomes:
            if new:
                self._progress.journaled += 1
            else:
                self._progress.duplicates += 1

    async def _journal_when_database_answers(self, events: list[InboundEvent]) -> list[bool]:
        """A database outage is nobody's fault: it does not count as a failed try (that would burn every event's
        budget into the dead-letter queue). The consumer keeps what it holds and tries again with backoff,
        taking nothing new meanwhile (its prefetch is full), until the database answers or it is stopped."""
        delay = 0.2
        while True:
            try:
                outcomes = await self._handler.journal(events)
            except Unavailable as exc:
                if self._stopping.is_set():
                    raise Stopping from exc
                if self._progress.state != "waiting_for_database":
                    log.warning("inbound events wait for the database", error=type(exc).__name__)
                self._progress.state = "waiting_for_database"
                self._progress.database_waits += 1
                self._progress.last_error = f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                delay = min(delay * 2, _DATABASE_BACKOFF_CAP)
                continue
            self._progress.state = "consuming"
            return outcomes

    async def _retry_or_dead_letter(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, error: BaseException
    ) -> None:
        attempts = _int(message.headers.get(ATTEMPTS)) + 1
        described = f"{type(error).__name__}: {error}"[:500]
        self._progress.failed += 1
        self._progress.last_error = described
        log.warning("inbound event failed", message_id=message.message_id, attempts=attempts, error=described)
        if attempts >= self._retry.max_deliveries:
            await self._dead_letter(
                channel, message, f"failed {attempts} times; last error: {described}", attempts=attempts
            )
            return
        delay = self._retry.delay(attempts)
        copy = _copy(message, {ATTEMPTS: attempts, LAST_ERROR: described}, expiration=timedelta(seconds=delay))
        await channel.default_exchange.publish(copy, routing_key=self._queues.retry, mandatory=True)
        self._progress.retried += 1

    async def _dead_letter(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, reason: str, *, attempts: int | None = None
    ) -> None:
        headers: dict[str, Any] = {REASON: reason[:1000], DEAD_LETTERED_AT: datetime.now(UTC).isoformat()}
        if attempts is not None:
            headers[ATTEMPTS] = attempts
        copy = _copy(message, headers)
        await channel.default_exchange.publish(copy, routing_key=self._queues.dead_letters, mandatory=True)
        self._progress.dead_lettered += 1
        log.warning("inbound event dead-lettered", message_id=message.message_id, reason=reason[:200])


def _copy(
    message: AbstractIncomingMessage, headers: dict[str, Any], *, expiration: timedelta | None = None
) -> aio_pika.Message:
    kept = {name: value for name, value in message.headers.items() if name not in _DROPPED_HEADERS}
    kept.setdefault(ROUTING_KEY, message.routing_key or "")
    return aio_pika.Message(
        body=message.body,
        headers={**kept, **headers},
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        timestamp=message.timestamp,
        type=message.type,
        app_id=message.app_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        expiration=expiration,
    )


def _ce_headers(message: AbstractIncomingMessage) -> dict[str, str]:
    """The AMQP binding's ``cloudEvents:`` / ``ce-`` application properties, and the content type."""
    headers = {"content-type": message.content_type or ""}
    for name, value in message.headers.items():
        lowered = name.lower()
        if lowered.startswith("cloudevents:"):
            lowered = "ce-" + lowered[len("cloudevents:") :]
        if lowered.startswith("ce-"):
            headers[lowered] = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return headers


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return 0


async def queue_depths(url: str, queues: InboundQueues, *, within: float = 3.0) -> dict[str, dict[str, int] | None]:
    """Messages (and consumers) in the three queues, by passive declares on a short-lived connection; a queue
    that does not exist is None. Raises when the broker cannot be reached in ``within`` seconds."""
    async with asyncio.timeout(within):
        connection = await aio_pika.connect(
            url, timeout=within, client_properties={"connection_name": "crm inbound events health"}
        )
        try:
            depths: dict[str, dict[str, int] | None] = {}
            for role, name in (
                ("queue", queues.queue),
                ("retry", queues.retry),
                ("dead_letters", queues.dead_letters),
            ):
                # A passive declare of a missing queue closes its channel: one channel per look.
                channel = await connection.channel(publisher_confirms=False)
                try:
                    declared = await channel.declare_queue(name, passive=True)
                except aio_pika.exceptions.ChannelClosed:
                    depths[role] = None
                    continue
                result = declared.declaration_result
                depths[role] = {"messages": result.message_count or 0, "consumers": result.consumer_count or 0}
                await channel.close()
            return depths
        finally:
            with contextlib.suppress(Exception):
                await connection.close()


async def replay_dead_letters(url: str, queues: InboundQueues, *, limit: int | None = None, wait: float = 10.0) -> int:
    """Moves dead letters back into the consumer's queue (at most ``limit``), each with a fresh delivery budget;
    how many it moved. Each is acknowledged in the dead-letter queue only once its copy was confirmed."""
    connection = await aio_pika.connect(
        url, timeout=wait, client_properties={"connection_name": "crm replay-dead-letters"}
    )
    moved = 0
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_topology(channel, queues)
        dead_letters = await channel.declare_queue(queues.dead_letters, passive=True)
        while limit is None or moved < limit:
            message = await dead_letters.get(no_ack=False, fail=False, timeout=wait)
            if message is None:
                break
            copy = _copy(message, {})
            for name in (REASON, ATTEMPTS, LAST_ERROR, DEAD_LETTERED_AT):
                copy.headers.pop(name, None)
            await channel.default_exchange.publish(copy, routing_key=queues.queue, mandatory=True)
            await message.ack()
            moved += 1
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), timeout=5)
    return moved
