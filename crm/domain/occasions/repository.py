"""What the occasions need from storage: the rows that fall due, locked, and the mark that fires each once."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from crm.domain.payments.schemas import Payment
from crm.domain.policies.schemas import Policy, PolicyStatus


@dataclass(frozen=True, slots=True)
class PolicyParties:
    """Who stands behind a policy: its number, deal, client and owners."""

    policy_id: UUID
    policy_number: str
    deal_id: UUID
    client_id: UUID
    owner_id: UUID | None
    deal_owner_id: UUID | None

    @property
    def responsible(self) -> UUID | None:
        """Whom its occasions reach: the policy's owner, else the deal's; None: nobody (the staff are told)."""
        return self.owner_id or self.deal_owner_id


class OccasionRepository(Protocol):
    """Inside a unit of work. Rows are locked ``SKIP LOCKED``: another worker's rows are left to it, and once it
    commits its mark they are no longer found (the mark is on the row itself, rechecked under the lock)."""

    async def lock_payments_due(self, first: date, last: date, limit: int) -> list[Payment]:
        """Live, not cancelled, not fully paid payments of live policies planned between ``first`` and ``last``
        (inclusive) whose ``payment.due`` has not fired for their planned date; earliest first."""

    async def mark_due_noticed(self, payment_ids: Sequence[UUID]) -> None:
        """Remember each payment's current planned date as noticed; its version stays (nothing a user sees
        has changed)."""

    async def lock_policies_to_renew(
        self, statuses: Collection[PolicyStatus], first: date, last: date, limit: int
    ) -> list[Policy]:
        """Live policies in ``statuses`` ending between ``first`` and ``last`` (inclusive) whose
        ``policy.renewal`` has not fired for that end date; earliest end first."""

    async def mark_renewal_noticed(self, policy_ids: Sequence[UUID]) -> None:
        """Remember each policy's current end date as noticed."""

    async def lock_policies_ended(self, statuses: Collection[PolicyStatus], before: date, limit: int) -> list[Policy]:
        """Live policies in ``statuses`` whose last day was before ``before``."""

    async def parties(self, policy_ids: Collection[UUID]) -> dict[UUID, PolicyParties]:
        """Number, deal, client and owners of each policy, by policy id."""
