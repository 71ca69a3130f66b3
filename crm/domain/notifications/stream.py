"""The notifications stream: entries the sse channel adds to a shared log (a Redis stream), read by every crm-api
process, each caller shown only their own (admins and managers: all, the staff's included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from crm.domain.access import Access


@dataclass(frozen=True, slots=True)
class StreamEntry:
    id: str  # the log's own id: what Last-Event-ID names
    user_id: UUID | None  # None: for the staff
    data: dict[str, Any]  # JSON-ready


class NotificationFeed(Protocol):
    async def latest_id(self) -> str:
        """The id of the newest entry (a stream with none: its start), fixed before a stream starts serving."""

    async def read_after(self, last_id: str, *, block_seconds: float, count: int) -> list[StreamEntry]:
        """Entries after ``last_id``, oldest first; waits up to ``block_seconds`` for one when there are none."""

    def valid_id(self, value: str) -> bool:
        """Whether ``value`` can name an entry of the log."""


def shown_to(entry: StreamEntry, access: Access) -> bool:
    if access.everything:
        return True
    return entry.user_id is not None and entry.user_id == access.user_id
