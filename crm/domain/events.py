"""Domain events: what happened, recorded by services and written to the outbox by the unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

JsonObject = dict[str, Any]


class Identified(Protocol):
    @property
    def id(self) -> UUID: ...

    def model_dump(self, *, mode: str) -> JsonObject: ...


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """``routing_key`` is the event's short type (``deal.payment.updated``); ``data`` is JSON-ready.

    ``aggregate_id`` is the record the event is about, as its aggregate sees it: a payment's events are
    about its deal, so the deal's stream carries them.
    """

    routing_key: str
    aggregate_id: UUID
    data: JsonObject
    occurred_at: datetime
    event_id: UUID = field(default_factory=uuid4)
    aggregate: str | None = None
    """The aggregate's type when it is not the routing key's first word: ``appeal.converted`` is about the deal
    it made (``aggregate="deal"``, ``aggregate_id`` the deal's id), so the deal stream carries it."""

    @property
    def aggregate_type(self) -> str:
        """``aggregate``, or the routing key's first word: ``client``, ``deal``, ``policy``, ``task``, …"""
        return self.aggregate or self.routing_key.split(".", 1)[0]


def record_event(routing_key: str, record: Identified, occurred_at: datetime) -> DomainEvent:
    """The event whose data is the record as the API serves it, about the record itself."""
    return DomainEvent(routing_key, record.id, record.model_dump(mode="json"), occurred_at)
