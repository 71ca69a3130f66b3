"""The transactional outbox: events are rows written in the transaction of the change they describe.

Requests only insert rows (and NOTIFY, delivered at commit). The relay that holds the lead numbers new rows
with the publication ``sequence``, publishes them in that order and marks them published; SSE replay reads
them back by sequence.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from asgi_correlation_id import correlation_id

from crm.domain.access import EVERYTHING, SEE, Access, Resource
from crm.domain.events import DomainEvent
from crm.domain.streams import DEAL_AGGREGATE, StreamedEvent
from crm.domain.tracing import TRACEPARENT
from crm.infrastructure.db.access import TableAccess, related_deals
from crm.infrastructure.db.sql import Connection, Where
from crm.infrastructure.events.cloudevents import to_cloudevent_json

# Committing a transaction that wrote events wakes the relay through this channel.
NOTIFY_CHANNEL = "crm_outbox"
# A deal event is seen by whoever sees its deal (the event's aggregate).
EVENTS_OF_DEAL = TableAccess(Resource.DEAL, "outbox", deal_column="aggregate_id")

# A NOTIFY takes a cluster-wide lock while its transaction commits, which halved the commit rate of 64
# concurrent writers (bench/notify_cost.py). So a process notifies at most once per window, and the relay,
# once woken, looks again one window later for rows whose transactions did not notify.
NOTIFY_WINDOW = 0.05

# One round trip for any number of events; rows keep the order of the arrays, so ids keep the recording order.
INSERT_QUIET = """
INSERT INTO crm.outbox (event_id, aggregate_type, aggregate_id, routing_key, payload, headers)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[])
"""
INSERT = f"""
WITH written AS ({INSERT_QUIET.strip()} RETURNING 1)
SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM (SELECT 1 FROM written LIMIT 1) AS any_row
"""


CAUSE_HEADER = "x-crm-cause"


TRACEPARENT_HEADER = "traceparent"


def event_headers(trace_id: str | None, cause: Sequence[UUID], traceparent: str | None = None) -> dict[str, Any]:
    """The headers an event is published with: the request's trace id (its X-Request-ID) and W3C traceparent,
    the automation rules that caused it."""
    headers: dict[str, Any] = {}
    if trace_id:
        headers["x-trace-id"] = trace_id
    if traceparent:
        headers[TRACEPARENT_HEADER] = traceparent
    if cause:
        headers[CAUSE_HEADER] = [str(rule_id) for rule_id in cause]
    return headers


class OutboxWriter:
    def __init__(self, source: str) -> None:
        self._source = source
        self._notified_at = -NOTIFY_WINDOW

    async def write(self, connection: Connection, events: Sequence[DomainEvent], cause: Sequence[UUID] = ()) -> None:
        """``cause``: the automation rules whose firings led to these events (``Caller.cause``), kept in the
        ``x-crm-cause`` header so a rule is never triggered again by its own consequences."""
        if not events:
            return
        # The request's X-Request-ID, kept by its middleware for the request's task; None in crm-worker.
        trace_id = correlation_id.get()
        # The caller's W3C traceparent (crm.api.tracing), carried in each CloudEvent; None in crm-worker.
        traceparent = TRACEPARENT.get()
        now = time.monotonic()
        notify = now - self._notified_at >= NOTIFY_WINDOW
        if notify:
            self._notified_at = now
        headers = json.dumps(event_headers(trace_id, cause, traceparent))
        await connection.execute(
            INSERT if notify else INSERT_QUIET,
            [event.event_id for event in events],
            [event.aggregate_type for event in events],
            [event.aggregate_id for event in events],
            [event.routing_key for event in events],
            [to_cloudevent_json(event, self._source, traceparent) for event in events],
            [headers] * len(events),
        )


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """A numbered row waiting for the broker's confirm."""

    id: int
    sequence: int
    event_id: UUID
    routing_key: str
    cloudevent: str
    headers: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """Events waiting for the broker: how many, and how long the oldest has waited (0 when none waits)."""

    unpublished: int
    oldest_age_seconds: float


class OutboxStore:
    """The relay's and the stream's reads and writes of ``crm.outbox``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    async def number_new(connection: Connection, limit: int) -> int:
        """Gives committed rows without a sequence the next sequences, in id order. Only the lead calls this."""
        ids = await connection.fetch(
            "SELECT id FROM crm.outbox WHERE sequence IS NULL ORDER BY id LIMIT $1",
            limit,
        )
        if not ids:
            return 0
        async with connection.transaction():
            first = await connection.fetchval("SELECT nextval('crm.outbox_sequence')")
            if len(ids) > 1:
                await connection.execute("SELECT setval('crm.outbox_sequence', $1)", first + len(ids) - 1)
            await connection.execute(
                "UPDATE crm.outbox AS o SET sequence = n.sequence "
                "FROM unnest($1::bigint[], $2::bigint[]) AS n(id, sequence) WHERE o.id = n.id",
                [row["id"] for row in ids],
                list(range(first, first + len(ids))),
            )
        return len(ids)

    async def unpublished(self, limit: int) -> list[PendingEvent]:
        rows = await self._pool.fetch(
            "SELECT id, sequence, event_id, routing_key, payload::text AS cloudevent, headers::text AS headers,"
            " created_at FROM crm.outbox WHERE published_at IS NULL AND sequence IS NOT NULL"
            " ORDER BY sequence LIMIT $1",
            limit,
        )
        return [
            PendingEvent(
                id=row["id"],
                sequence=row["sequence"],
                event_id=row["event_id"],
                routing_key=row["routing_key"],
                cloudevent=row["cloudevent"],
                headers=json.loads(row["headers"]),
                created_at=row["created_at"],
            )
            for row in rows
        ]

    async def mark_published(self, ids: Sequence[int], note: str | None = None) -> None:
        """``note`` records why a published row still deserves a look (it reached no queue)."""
        await self._pool.execute(
            "UPDATE crm.outbox SET published_at = now(), attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
            list(ids),
            note,
        )

    async def record_failure(self, ids: Sequence[int], error: str) -> None:
        await self._pool.execute(
            "UPDATE crm.outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
            list(ids),
            error[:2000],
        )

    async def backlog(self) -> int:
        """Rows not yet published (numbered or not)."""
        value = await self._pool.fetchval("SELECT count(*) FROM crm.outbox WHERE published_at IS NULL")
        return int(value)

    async def pending(self, query_timeout: float) -> OutboxBacklog:
        """What /metrics reports of the outbox: the rows not yet published and the age of the oldest. The
        query is cancelled after ``query_timeout`` seconds (``TimeoutError``)."""
        row = await self._pool.fetchrow(
            "SELECT count(*) AS waiting, extract(epoch FROM now() - min(created_at))::float8 AS oldest"
            " FROM crm.outbox WHERE published_at IS NULL",
            timeout=query_timeout,
        )
        assert row is not None
        return OutboxBacklog(unpublished=int(row["waiting"]), oldest_age_seconds=max(0.0, row["oldest"] or 0.0))


class PgDealEventLog:
    """Deal events by sequence: what the live stream pushes and what a returning client replays."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def after(
        self,
        sequence: int,
        limit: int,
        deal_ids: Collection[UUID] = (),
        types: Collection[str] = (),
        access: Access = EVERYTHING,
    ) -> list[StreamedEvent]:
        where = Where()
        where.add("sequence > {} AND aggregate_type = {}", sequence, DEAL_AGGREGATE)
        if deal_ids:
            where.add("aggregate_id = ANY({}::uuid[])", list(deal_ids))
        if types:
            where.add("routing_key = ANY({}::text[])", list(types))
        EVENTS_OF_DEAL.sees(access, where)
        limit_param = where.param(limit)
        rows = await self._pool.fetch(
            "SELECT sequence, routing_key, aggregate_id, payload::text AS cloudevent FROM crm.outbox"
            f" WHERE {where.sql} ORDER BY sequence LIMIT {limit_param}",
            *where.params,
        )
        return [
            StreamedEvent(
                sequence=row["sequence"],
                routing_key=row["routing_key"],
                aggregate_id=row["aggregate_id"],
                cloudevent=row["cloudevent"],
            )
            for row in rows
        ]

    async def latest_sequence(self) -> int:
        value = await self._pool.fetchval("SELECT coalesce(max(sequence), 0) FROM crm.outbox")
        return int(value)

    async def visible_deals(self, access: Access) -> frozenset[UUID]:
        """The ids of the deals ``access`` sees (for a restricted caller), deleted ones too."""
        if access.user_id is None:
            return frozenset()
        deals = related_deals(SEE[Resource.DEAL].via_deal, "$1")
        rows = await self._pool.fetch(f"SELECT DISTINCT id FROM ({deals}) AS related (id)", access.user_id)
        return frozenset(row["id"] for row in rows)
