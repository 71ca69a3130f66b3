"""What the deals module needs from storage."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from crm.domain.deals.rules import StatusCount
from crm.domain.deals.schemas import Deal, DealFilter
from crm.domain.pagination import Page
from crm.domain.records import RecordRepository


class DealRepository(RecordRepository[Deal], Protocol):
    async def add_for_live_client(self, deal_id: UUID, values: dict[str, Any], actor_id: UUID | None) -> Deal | None:
        """Insert the deal if its client exists and is not deleted (locking the client), else None."""

    async def count_open_for_client(self, client_id: UUID) -> int: ...

    async def count_live_policies(self, deal_id: UUID) -> int:
        """Policies of the deal that are not deleted; they pin the deal and its client."""


class DealReader(Protocol):
    async def get(self, deal_id: UUID) -> Deal | None: ...

    async def page(self, query: DealFilter) -> Page[Deal]: ...

    async def status_counts(self, query: DealFilter) -> list[StatusCount]: ...
