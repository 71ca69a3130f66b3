"""Reading ``crm.outbox`` behind the API: the rows a change recorded, their routing keys, the events they carry.

Every reader takes the tests' own connection (the ``db`` fixture) and answers oldest first (by ``id``, the order
the rows were written) unless its name says otherwise.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from crm.infrastructure.db.outbox import CURSOR, SETTLED
from crm.infrastructure.events.relay import LEAD_LOCK

PUBLISHED_UP_TO = f"coalesce({CURSOR}, 0)"


async def outbox_rows(
    db: asyncpg.Connection, *, routing_key: str | None = None, aggregate_id: uuid.UUID | str | None = None
) -> list[dict[str, Any]]:
    """Every column of every row, or of the rows with this routing key and/or of this aggregate, with
    ``published``: whether the relay's cursor has passed the row."""
    rows = await db.fetch(
        f"SELECT *, sequence <= {PUBLISHED_UP_TO} AS published FROM crm.outbox"
        " WHERE ($1::text IS NULL OR routing_key = $1) AND ($2::uuid IS NULL OR aggregate_id = $2)"
        " ORDER BY id",
        routing_key,
        None if aggregate_id is None else uuid.UUID(str(aggregate_id)),
    )
    return [dict(row) for row in rows]


async def outbox_rows_in_publishing_order(db: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every row in the order the relay publishes them (``sequence``), each with ``published``: whether the relay's
    cursor has passed it."""
    rows = await db.fetch(f"SELECT *, sequence <= {PUBLISHED_UP_TO} AS published FROM crm.outbox ORDER BY sequence")
    return [dict(row) for row in rows]


async def routing_keys(db: asyncpg.Connection) -> list[str]:
    """The routing key of every row: which events were recorded, in order."""
    return [row["routing_key"] for row in await db.fetch("SELECT routing_key FROM crm.outbox ORDER BY id")]


async def recorded_events(db: asyncpg.Connection, routing_key: str) -> list[tuple[str, str, Any]]:
    """``(aggregate type, aggregate id, event data)`` of every event with this routing key."""
    return [
        (row["aggregate_type"], str(row["aggregate_id"]), event_data(row))
        for row in await outbox_rows(db, routing_key=routing_key)
    ]


def cloudevent(row: dict[str, Any]) -> CloudEvent:
    """The row's payload read as a CloudEvent (the SDK checks the required attributes as it reads)."""
    return JSONFormat().read(CloudEvent, row["payload"])


def event_data(row: dict[str, Any]) -> Any:
    """The ``data`` of the CloudEvent a row carries: what the event says happened."""
    return cloudevent(row).get_data()


async def unpublished_count(db: asyncpg.Connection) -> int:
    """How many rows the relay has not published yet."""
    return int(await db.fetchval(f"SELECT count(*) FROM crm.outbox WHERE sequence > {PUBLISHED_UP_TO}"))


async def all_published(db: asyncpg.Connection) -> bool:
    """Whether the relay has published every row (for ``eventually``)."""
    return await unpublished_count(db) == 0


async def all_settled(db: asyncpg.Connection) -> bool:
    """Whether every row written so far is below the outbox's horizon, where readers see it (for ``eventually``):
    the horizon is the server's oldest running transaction, which another database's may hold back a moment."""
    return bool(await db.fetchval(f"SELECT NOT EXISTS (SELECT FROM crm.outbox WHERE NOT ({SETTLED}))"))


async def lead_holders(db: asyncpg.Connection) -> list[int]:
    """The backends holding the relay's lead lock (``LEAD_LOCK``) in this database: one at most, none between two
    terms. Advisory locks are per database, and other test runs on the same server hold their own."""
    rows = await db.fetch(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND ((classid::bigint << 32) | objid::bigint) = $1",
        LEAD_LOCK,
    )
    return [row["pid"] for row in rows]
