"""What the deals module needs from storage."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from crm.domain.deals.rules import StatusCount
from crm.domain.deals.schemas import Deal, DealFilter
from crm.domain.pagination import Page


class DealRepository(Protocol):
    async def add_for_live_client(self, deal_id: UUID, values: dict[str, Any], actor_id: UUID | None) -> Deal | None:
        """Insert the deal if its client exists and is not deleted (locking the client), else None."""

    async def lock_live_for_share(self, deal_id: UUID) -> bool:
        """True if the deal exists and is not deleted; it stays so until the transaction ends."""

    async def get_for_update(self, deal_id: UUID) -> Deal | None:
        """The deal, live or deleted, locked against concurrent changes."""

    async def update(self, deal_id: UUID, changes: dict[str, Any], actor_id: UUID | None) -> Deal: ...

    async def set_deleted(self, deal_id: UUID, deleted: bool, actor_id: UUID | None) -> Deal: ...

    async def count_open_for_client(self, client_id: UUID) -> int: ...

    async def count_live_policies(self, deal_id: UUID) -> int:
        """Policies of the deal that are not deleted; they pin the deal and its client."""


class DealReader(Protocol):
    async def get(self, deal_id: UUID) -> Deal | None: ...

    async def page(self, query: DealFilter) -> Page[Deal]: ...

    async def status_counts(self, query: DealFilter) -> list[StatusCount]: ...
