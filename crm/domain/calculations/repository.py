"""What the calculations module needs from storage."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.calculations.schemas import Calculation, CalculationFilter
from crm.domain.pagination import Page
from crm.domain.records import RecordRepository


class CalculationRepository(RecordRepository[Calculation], Protocol):
    """Writes inside a unit of work; rows read here are locked until the transaction ends.

    ``set_deleted(…, True)`` also drops the calculation's policy link, so the policy can be linked again.
    """

    async def lock_live_deal(self, deal_id: UUID) -> bool:
        """True if the deal exists and is not deleted; it cannot be deleted until the transaction ends."""

    async def get_of_deal_for_update(self, deal_id: UUID, calculation_id: UUID) -> Calculation | None:
        """The calculation of this deal, live or deleted, locked against concurrent changes."""

    async def lock_live_policy_of_deal(self, policy_id: UUID, deal_id: UUID) -> bool:
        """True if the policy exists, is not deleted and belongs to the deal; it stays so until the end."""

    async def unlink_policy(self, policy_id: UUID, keep_id: UUID, actor_id: UUID | None) -> Calculation | None:
        """Drop the link of whichever other calculation holds the policy (locking it), or ``None``."""


class CalculationReader(Protocol):
    """Reads outside any transaction, of what ``access`` sees."""

    async def deal_is_live(self, deal_id: UUID, access: Access) -> bool: ...

    async def get_of_deal(self, deal_id: UUID, calculation_id: UUID, access: Access) -> Calculation | None:
        """The live calculation if it belongs to this deal."""

    async def page(self, query: CalculationFilter, access: Access) -> Page[Calculation]: ...
