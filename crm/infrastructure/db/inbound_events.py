"""The inbound events journal on asyncpg: one INSERT per batch, deduplicated by the primary key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from crm.domain.notifications.inbound_repository import InboundEvent

# One statement for a whole prefetch window: arrays unnested into rows. ON CONFLICT DO NOTHING makes the
# primary key the judge of "seen before", also between concurrent transactions (the later one waits for the
# earlier to commit or roll back, then inserts or skips), and RETURNING names the rows inserted now.
_RECORD_NEW = """
INSERT INTO crm.inbound_events AS e (id, source, type, time, subject, data, transport)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::jsonb[], $7::text[])
ON CONFLICT (id) DO NOTHING
RETURNING e.id
"""

_PRUNE = """
DELETE FROM crm.inbound_events WHERE id IN (
    SELECT id FROM crm.inbound_events WHERE received_at < $1 ORDER BY received_at LIMIT $2
)
"""


class PgInboundEventRepository:
    def __init__(self, connection: asyncpg.Connection | PoolConnectionProxy[asyncpg.Record]) -> None:
        self._connection = connection

    async def record_new(self, events: Sequence[InboundEvent]) -> set[str]:
        if not events:
            return set()
        rows = await self._connection.fetch(
            _RECORD_NEW,
            [event.id for event in events],
            [event.source for event in events],
            [event.type for event in events],
            [event.time for event in events],
            [event.subject for event in events],
            [orjson.dumps(event.data).decode() for event in events],
            [event.transport.value for event in events],
        )
        return {row["id"] for row in rows}

    async def prune(self, before: datetime, limit: int) -> int:
        status = await self._connection.execute(_PRUNE, before, limit)
        return int(status.split()[-1])
