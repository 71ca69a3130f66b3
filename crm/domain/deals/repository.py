"""What the deals module needs from storage."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from crm.domain.access import Access, MemberRole
from crm.domain.deals.rules import StatusCount
from crm.domain.deals.schemas import Deal, DealFilter, DealMember
from crm.domain.pagination import Page, PageRequest
from crm.domain.records import RecordRepository


class DealRepository(RecordRepository[Deal], Protocol):
    async def count_open_for_client(self, client_id: UUID) -> int: ...

    async def count_live_policies(self, deal_id: UUID) -> int:
        """Policies of the deal that are not deleted; they pin the deal and its client."""


class DealReader(Protocol):
    """Reads for a caller: only the deals ``access`` sees."""

    async def get(self, deal_id: UUID, access: Access) -> Deal | None: ...

    async def page(self, query: DealFilter, access: Access) -> Page[Deal]: ...

    async def status_counts(self, query: DealFilter, access: Access) -> list[StatusCount]: ...


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
