"""The live deal stream: published events in outbox-sequence order, with replay for clients that come back."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from crm.domain.access import Access

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
        self, after: int, deal_ids: Collection[UUID], types: Collection[str], limit: int, access: Access
    ) -> list[StreamedEvent]:
        """Deal events with a sequence above ``after`` of the deals ``access`` sees, oldest first, at most
        ``limit``."""
        ...

    async def visible_deals(self, access: Access) -> frozenset[UUID]:
        """The deals a restricted caller sees now (the access rules' ``SEE`` of deals)."""
        ...

    async def latest_sequence(self) -> int:
        """The highest sequence handed out so far (0 when none), where a new client starts."""
        ...


# Events that may change who sees their deal; a stream re-reads what its caller sees when one passes.
ACCESS_CHANGES = frozenset({"deal.created", "deal.restored", "deal.member.added", "deal.member.removed"})
ACCESS_REFRESH_SECONDS = 2.0


class StreamAccess:
    """Which deals' live events an open stream may send its caller, kept fresh without reconnecting.

    Admins and managers see every deal. For anyone else the deals they see are read when the stream opens,
    again when an event passes that may change them (a deal created, a team changed), and again at the
    latest ``refresh`` seconds after the last reading once events flow, so a task assigned or an owner changed
    takes effect within seconds. Replay from the outbox is filtered by the database itself.
    """

    def __init__(
        self,
        feed: DealEventFeed,
        access: Access,
        *,
        refresh: float = ACCESS_REFRESH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._feed = feed
        self.access = access
        self._refresh = refresh
        self._monotonic = monotonic
        self._deals: frozenset[UUID] = frozenset()
        self._read_at: float | None = None

    async def allows(self, event: StreamedEvent) -> bool:
        if self.access.everything:
            return True
        if (
            self._read_at is None
            or event.routing_key in ACCESS_CHANGES
            or self._monotonic() - self._read_at >= self._refresh
        ):
            await self.reread()
        return event.aggregate_id in self._deals

    async def reread(self) -> None:
        if self.access.everything:
            return
        self._deals = await self._feed.visible_deals(self.access)
        self._read_at = self._monotonic()
