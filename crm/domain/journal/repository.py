"""What the deal journal needs from storage."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.journal.schemas import JournalEntry, JournalFilter
from crm.domain.pagination import Page


class JournalRepository(Protocol):
    async def append_to_live_deal(
        self, entry_id: UUID, deal_id: UUID, body: str, author_id: UUID | None
    ) -> JournalEntry | None:
        """Insert the entry if the deal exists and is not deleted (locking the deal), else None."""


class JournalReader(Protocol):
    async def deal_is_live(self, deal_id: UUID, access: Access) -> bool: ...

    async def page(self, query: JournalFilter, access: Access) -> Page[JournalEntry]:
        """The deal's entries, oldest first."""
