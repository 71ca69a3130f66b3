"""What the payments module needs from storage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.pagination import Page, PageRequest
from crm.domain.payments.schemas import HistoryEntry, LineKind, Payment, PaymentFilter, PaymentLine
from crm.domain.records import RecordRepository


class PaymentRepository(RecordRepository[Payment], Protocol):
    """Writes inside a unit of work; rows read here are locked until the transaction ends.

    Locks are always taken policy first, then payment, then line, so concurrent writers never deadlock.
    ``add`` gives the payment the policy's next ``sequence``: the caller holds the policy's exclusive lock.
    """

    def lines(self, kind: LineKind) -> RecordRepository[PaymentLine]:
        """The incomes or the expenses."""

    async def lock_policy(self, deal_id: UUID, policy_id: UUID, *, exclusive: bool) -> str | None:
        """The currency of the live policy of that deal, locked (for update when ``exclusive``), else ``None``."""

    async def has_live_lines(self, payment_id: UUID) -> bool: ...

    async def recompute_totals(self, payment_id: UUID, actor_id: UUID | None) -> Payment:
        """Set the totals to the sums of the live lines (bumping the version); the payment must be locked."""

    async def add_history(
        self,
        payment_id: UUID,
        entity: str,
        entity_id: UUID,
        action: str,
        actor_id: UUID | None,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None: ...

    async def lock_unchecked_past_due(self, today: date, limit: int) -> list[Payment]:
        """Live payments of live policies whose planned date is before ``today`` and that were not checked
        for it yet, earliest first. Rows another transaction holds are skipped, not waited for (so the
        policy-then-payment lock order cannot deadlock with them)."""

    async def mark_overdue_checked(self, payment_ids: Sequence[UUID]) -> None:
        """Remember each payment's current planned date as checked; its version stays (nothing a user
        sees has changed)."""


class PaymentReader(Protocol):
    """Reads outside any transaction. A policy's payments, lines and history are reached through the policy:
    ``policy_is_live`` says whether ``access`` sees it, before the rest is read."""

    async def policy_is_live(self, deal_id: UUID, policy_id: UUID, access: Access) -> bool: ...

    async def get(self, payment_id: UUID, policy_id: UUID) -> Payment | None: ...

    async def page(self, query: PaymentFilter) -> Page[Payment]: ...

    async def line(self, kind: LineKind, line_id: UUID, payment_id: UUID) -> PaymentLine | None: ...

    async def lines(self, kind: LineKind, payment_id: UUID, page: PageRequest) -> Page[PaymentLine]: ...

    async def history(self, payment_id: UUID, page: PageRequest) -> Page[HistoryEntry]: ...
