"""Domain events: what happened, recorded by services and written to the outbox by the unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """``routing_key`` is the event's short type (``deal.created``); ``data`` is JSON-ready."""

    routing_key: str
    aggregate_type: str
    aggregate_id: UUID
    data: JsonObject
    occurred_at: datetime
    event_id: UUID = field(default_factory=uuid4)
