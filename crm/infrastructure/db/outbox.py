"""The transactional outbox: events are rows written in the transaction of the change they describe."""

from __future__ import annotations

import json
from collections.abc import Sequence

from crm.domain.events import DomainEvent
from crm.infrastructure.db.sql import Connection
from crm.infrastructure.events.cloudevents import to_cloudevent_json

INSERT = """
INSERT INTO crm.outbox (event_id, aggregate_type, aggregate_id, routing_key, payload, headers)
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)
"""


class OutboxWriter:
    def __init__(self, source: str) -> None:
        self._source = source

    async def write(self, connection: Connection, events: Sequence[DomainEvent], trace_id: str | None) -> None:
        """Rows are inserted in the order the events were recorded, so their sequence keeps that order."""
        headers = json.dumps({"x-trace-id": trace_id} if trace_id else {})
        rows = [
            (
                event.event_id,
                event.aggregate_type,
                event.aggregate_id,
                event.routing_key,
                to_cloudevent_json(event, self._source),
                headers,
            )
            for event in events
        ]
        if len(rows) == 1:
            await connection.execute(INSERT, *rows[0])
        elif rows:
            await connection.executemany(INSERT, rows)
