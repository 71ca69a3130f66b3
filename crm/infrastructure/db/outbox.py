"""The transactional outbox: events are rows written once, in the transaction of the change they describe.

Each row gets its publication ``sequence`` as it is written: its transaction's id (``xid8``) times 2**20, plus its
rank within the transaction. Rows are read only below the *horizon*, ``pg_snapshot_xmin`` of the reader's snapshot
times 2**20: every transaction below it has ended, and every transaction still to write gets an id at or above it,
so what a reader has passed never grows again (docs/events.md, "Why the order is safe"). The relay keeps how far
it has published as one cursor (``crm.outbox_cursor``), not as flags on the rows; SSE replay and the automation
feed read by sequence below the same horizon.
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

# The one rule of the outbox's order. A sequence is (transaction id << RANK_BITS) + rank in the transaction:
# one transaction may write up to 2**20 events, and ids up to 2**43 (8.8e12 transactions) fit a bigint.
RANK_BITS = 20
TRANSACTION_BASE = f"(pg_current_xact_id()::text::bigint << {RANK_BITS})"
# Every sequence below this is settled: its transaction ended before the statement's snapshot was taken, and no
# transaction can write one below it any more. Readers (relay, stream, automation feed) read only below it.
HORIZON = f"(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << {RANK_BITS})"
SETTLED = f"sequence < {HORIZON}"
# The relay's cursor: every sequence up to ``position`` was published (or is gone).
RELAY_CURSOR = "relay"
CURSOR = f"(SELECT position FROM crm.outbox_cursor WHERE name = '{RELAY_CURSOR}')"

# One round trip for any number of events, numbered in the order of the arrays after what this transaction
# wrote before. More than 2**20 events in one transaction fail (the cast error names the limit).
_NUMBERING = f"""
base AS (SELECT {TRANSACTION_BASE} AS first),
next AS (
    SELECT coalesce(
        (SELECT max(o.sequence) + 1 FROM crm.outbox o, base
         WHERE o.sequence >= base.first AND o.sequence < base.first + {1 << RANK_BITS}),
        (SELECT first FROM base)
    ) AS at
)"""
_INSERT_ROWS = f"""
INSERT INTO crm.outbox (sequence, event_id, aggregate_type, aggregate_id, routing_key, payload, headers)
SELECT CASE WHEN e.rank - 1 + next.at < base.first + {1 << RANK_BITS} THEN e.rank - 1 + next.at
            ELSE ('more than {1 << RANK_BITS} events in one transaction: ' || e.rank::text)::bigint END,
       e.event_id, e.aggregate_type, e.aggregate_id, e.routing_key, e.payload, e.headers
FROM base, next,
     unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[])
         WITH ORDINALITY AS e(event_id, aggregate_type, aggregate_id, routing_key, payload, headers, rank)"""
INSERT_QUIET = f"WITH {_NUMBERING.strip()}{_INSERT_ROWS}"
INSERT = f"""WITH {_NUMBERING.strip()},
written AS ({_INSERT_ROWS.strip()} RETURNING 1)
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
    """A settled row waiting for the broker's confirm, with the CloudEvent attributes its message carries (read
    by PostgreSQL from the stored JSON, so the relay does not parse every payload)."""

    sequence: int
    event_id: UUID
    routing_key: str
    cloudevent: str
    headers: dict[str, Any]
    created_at: datetime
    specversion: str
    type: str
    source: str
    subject: str | None = None
    time: str | None = None  # as the CloudEvent has it
    occurred_at: datetime | None = None  # the same instant, parsed


PENDING = f"""
SELECT sequence, event_id, routing_key, payload::text AS cloudevent, headers::text AS headers, created_at,
       payload ->> 'specversion' AS specversion, payload ->> 'type' AS type, payload ->> 'source' AS source,
       payload ->> 'subject' AS subject, payload ->> 'time' AS time, (payload ->> 'time')::timestamptz AS occurred_at
FROM crm.outbox WHERE sequence > $1 AND {SETTLED} ORDER BY sequence LIMIT $2
"""
LATEST_SETTLED = f"SELECT coalesce(max(sequence), 0) FROM crm.outbox WHERE {SETTLED}"
# Both are one step down the sequence index (a condition "sequence >= horizon" would be planned as a scan of the
# whole table, the horizon being unknown when planning): a committed row waits iff the highest one is unsettled.
WATCH = f"""
SELECT ({LATEST_SETTLED}) AS settled,
       coalesce((SELECT max(sequence) FROM crm.outbox) >= {HORIZON}, false) AS waiting
"""
READ_CURSOR = f"SELECT coalesce({CURSOR}, 0)"
# A missing row reads as 0 and is made by the first advance.
ADVANCE_CURSOR = """
INSERT INTO crm.outbox_cursor AS c (name, position) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now() WHERE c.position < excluded.position
"""
UNPUBLISHED = f"FROM crm.outbox WHERE sequence > coalesce({CURSOR}, 0)"
BACKLOG = f"SELECT count(*) {UNPUBLISHED}"
BACKLOG_FIGURES = (
    f"SELECT count(*) AS waiting, extract(epoch FROM now() - min(created_at))::float8 AS oldest {UNPUBLISHED}"
)


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    """Events waiting for the broker: how many, and how long the oldest has waited (0 when none waits)."""

    unpublished: int
    oldest_age_seconds: float


class OutboxStore:
    """The relay's reads of ``crm.outbox`` and its cursor: rows are never updated to say they were published."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    async def progress(connection: Connection) -> tuple[int, bool]:
        """The highest settled sequence (0 when none), which grows whenever rows settle, and whether committed rows
        wait above the horizon for older transactions to end. The lead watches both."""
        row = await connection.fetchrow(WATCH)
        assert row is not None  # a SELECT without FROM answers one row
        return int(row["settled"]), bool(row["waiting"])

    async def pending(self, after: int, limit: int) -> list[PendingEvent]:
        """Settled rows after ``after``, in sequence order: what to publish next."""
        rows = await self._pool.fetch(PENDING, after, limit)
        return [
            PendingEvent(
                sequence=row["sequence"],
                event_id=row["event_id"],
                routing_key=row["routing_key"],
                cloudevent=row["cloudevent"],
                headers=json.loads(row["headers"]),
                created_at=row["created_at"],
                specversion=row["specversion"],
                type=row["type"],
                source=row["source"],
                subject=row["subject"],
                time=row["time"],
                occurred_at=row["occurred_at"],
            )
            for row in rows
        ]

    async def cursor(self) -> int:
        """How far the relay has published: every sequence up to it."""
        return int(await self._pool.fetchval(READ_CURSOR))

    async def advance(self, position: int) -> None:
        """Moves the cursor forward (never back) to ``position``, once the broker took everything up to it."""
        await self._pool.execute(ADVANCE_CURSOR, RELAY_CURSOR, position)

    async def note_unroutable(self, sequences: Sequence[int], note: str) -> None:
        """Records on the rows why a published event still deserves a look (it reached no queue); rare."""
        await self._pool.execute(
            "UPDATE crm.outbox SET last_error = $2 WHERE sequence = ANY($1)", list(sequences), note[:2000]
        )

    async def backlog(self) -> int:
        """Rows not yet published (settled or not)."""
        return int(await self._pool.fetchval(BACKLOG))

    async def backlog_figures(self, query_timeout: float) -> OutboxBacklog:
        """What /metrics reports of the outbox: the rows not yet published (above the relay's cursor, settled or not)
        and the age of the oldest. The query is cancelled after ``query_timeout`` seconds (``TimeoutError``)."""
        row = await self._pool.fetchrow(BACKLOG_FIGURES, timeout=query_timeout)
        assert row is not None
        return OutboxBacklog(unpublished=int(row["waiting"]), oldest_age_seconds=max(0.0, row["oldest"] or 0.0))


class PgDealEventLog:
    """Settled deal events by sequence: what the live stream pushes and what a returning client replays."""

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
        where.add(f"sequence > {{}} AND {SETTLED} AND aggregate_type = {{}}", sequence, DEAL_AGGREGATE)
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
        return int(await self._pool.fetchval(LATEST_SETTLED))

    async def before_last(self, count: int) -> int:
        """The sequence just before the last ``count`` settled deal events (0 when there are fewer)."""
        value = await self._pool.fetchval(
            f"SELECT sequence FROM crm.outbox WHERE aggregate_type = $1 AND {SETTLED}"
            " ORDER BY sequence DESC OFFSET $2 LIMIT 1",
            DEAL_AGGREGATE,
            count,
        )
        return int(value or 0)

    async def visible_deals(self, access: Access) -> frozenset[UUID]:
        """The ids of the deals ``access`` sees (for a restricted caller), deleted ones too."""
        if access.user_id is None:
            return frozenset()
        deals = related_deals(SEE[Resource.DEAL].via_deal, "$1")
        rows = await self._pool.fetch(f"SELECT DISTINCT id FROM ({deals}) AS related (id)", access.user_id)
        return frozenset(row["id"] for row in rows)
