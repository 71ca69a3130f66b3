"""What the calculations module needs from storage."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from crm.domain.calculations.schemas import Calculation, CalculationFilter
from crm.domain.pagination import Page


class CalculationRepository(Protocol):
    """Writes inside a unit of work; rows read here are locked until the transaction ends."""

    async def lock_live_deal(self, deal_id: UUID) -> bool:
        """True if the deal exists and is not deleted; it cannot be deleted until the transaction ends."""

    async def add(
        self, calculation_id: UUID, deal_id: UUID, values: dict[str, Any], actor_id: UUID | None
    ) -> Calculation:
        """Insert a new ``draft`` calculation."""

    async def get_for_update(self, deal_id: UUID, calculation_id: UUID) -> Calculation | None:
        """The live calculation of this deal, locked against concurrent changes."""

    async def update(self, calculation_id: UUID, changes: dict[str, Any], actor_id: UUID | None) -> Calculation:
        """Set the given fields (``status`` and ``linked_policy_id`` included) and bump the version."""

    async def delete(self, calculation_id: UUID, actor_id: UUID | None) -> Calculation:
        """Soft-delete, dropping any policy link so the policy can be linked again."""

    async def lock_live_policy_of_deal(self, policy_id: UUID, deal_id: UUID) -> bool:
        """True if the policy exists, is not deleted and belongs to the deal; it stays so until the end."""

    async def unlink_policy(self, policy_id: UUID, keep_id: UUID, actor_id: UUID | None) -> Calculation | None:
        """Drop the link of whichever other calculation holds the policy (locking it), or ``None``."""


class CalculationReader(Protocol):
    """Reads outside any transaction."""

    async def deal_is_live(self, deal_id: UUID) -> bool: ...

    async def get(self, deal_id: UUID, calculation_id: UUID) -> Calculation | None:
        """The live calculation if it belongs to this deal."""

    async def page(self, query: CalculationFilter) -> Page[Calculation]: ...
