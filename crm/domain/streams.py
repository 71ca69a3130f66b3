"""The live deal stream: published events in outbox-sequence order, with replay for clients that come back."""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

# Events of these aggregates travel on the deal stream (deal, calculation, journal and payment events).
DEAL_AGGREGATE = "deal"


@dataclass(frozen=True, slots=True)
class StreamedEvent:
    """One event as the stream serves it: ``sequence`` is its outbox sequence, ``cloudevent`` its JSON."""

    sequence: int
    routing_key: str
    aggregate_id: UUID
    cloudevent: str


@dataclass(frozen=True, slots=True)
class Resync:
    """The feed may have missed events (its fan-out reconnected): read what came after your last one again."""


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Empty sets let everything through."""

    deal_ids: frozenset[UUID] = frozenset()
    types: frozenset[str] = frozenset()

    def matches(self, event: StreamedEvent) -> bool:
        if self.deal_ids and event.aggregate_id not in self.deal_ids:
            return False
        return not self.types or event.routing_key in self.types


class Subscription(Protocol):
    async def next(self) -> StreamedEvent | Resync | None:
        """Waits for the next event this process hears of (or a ``Resync``); ``None`` once closed."""
        ...

    def close(self) -> None:
        """Ends the subscription: ``next`` answers ``None`` from now on (the server is shutting down)."""
        ...


class DealEventFeed(Protocol):
    def subscribe(self) -> AbstractAsyncContextManager[Subscription]: ...

    async def replay(
        self, after: int, deal_ids: Collection[UUID], types: Collection[str], limit: int
    ) -> list[StreamedEvent]:
        """Deal events with a sequence above ``after``, oldest first, at most ``limit``."""
        ...

    async def latest_sequence(self) -> int:
        """The highest sequence handed out so far (0 when none), where a new client starts."""
        ...
