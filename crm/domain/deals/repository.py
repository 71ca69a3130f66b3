"""What the deals module needs from storage."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from crm.domain.access import Access, MemberRole
from crm.domain.deals.rules import StageCount
from crm.domain.deals.schemas import Deal, DealFilter, DealMember, StageHistoryEntry, StageTransition
from crm.domain.pagination import Page, PageRequest
from crm.domain.records import RecordRepository


class DealRepository(RecordRepository[Deal], Protocol):
    async def count_open_for_client(self, client_id: UUID) -> int: ...

    async def count_live_policies(self, deal_id: UUID) -> int:
        """Policies of the deal that are not deleted; they pin the deal and its client."""

    async def add_stage_transition(self, transition: StageTransition) -> None:
        """Write one row of the deal's stage history."""


class DealReader(Protocol):
    """Reads for a caller: only the deals ``access`` sees."""

    async def get(self, deal_id: UUID, access: Access) -> Deal | None: ...

    async def page(self, query: DealFilter, access: Access) -> Page[Deal]: ...

    async def stage_counts(self, query: DealFilter, access: Access) -> list[StageCount]:
        """The deals ``query`` selects (paging aside), counted by stage."""

    async def stage_history(self, deal_id: UUID, page: PageRequest) -> Page[StageHistoryEntry]:
        """The deal's stage history, oldest first (the caller was found to see the deal)."""


class DealMemberRepository(Protocol):
    """The deal team, inside a unit of work; the use case has checked the caller may change the deal."""

    async def add(self, deal_id: UUID, user_id: UUID, role: MemberRole, actor_id: UUID | None) -> DealMember | None:
        """Put the person on the team; None if they are on it already."""

    async def remove(self, deal_id: UUID, user_id: UUID) -> DealMember | None:
        """Take the person off the team; None if they were not on it."""


class DealMemberReader(Protocol):
    async def deal_is_live(self, deal_id: UUID, access: Access) -> bool:
        """The deal exists, is not deleted and ``access`` sees it."""

    async def page(self, deal_id: UUID, page: PageRequest, access: Access) -> Page[DealMember]: ...
