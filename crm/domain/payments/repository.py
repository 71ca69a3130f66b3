"""What the payments module needs from storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from crm.domain.pagination import Page, PageRequest
from crm.domain.payments.schemas import HistoryEntry, LineKind, Payment, PaymentFilter, PaymentLine


class PaymentRepository(Protocol):
    """Writes inside a unit of work; rows read here are locked until the transaction ends.

    Locks are always taken policy first, then payment, so concurrent writers never deadlock.
    """

    async def lock_policy(self, deal_id: UUID, policy_id: UUID, *, exclusive: bool) -> str | None:
        """The currency of the live policy of that deal, locked (for update when ``exclusive``), else ``None``."""

    async def add(self, payment_id: UUID, policy_id: UUID, values: dict[str, Any], actor_id: UUID | None) -> Payment:
        """Insert with the next sequence of the policy; the caller holds the policy's exclusive lock."""

    async def get_for_update(self, payment_id: UUID, policy_id: UUID) -> Payment | None:
        """The payment of that policy, live or deleted, locked against concurrent changes."""

    async def update(self, payment_id: UUID, changes: dict[str, Any], actor_id: UUID | None) -> Payment: ...

    async def set_deleted(self, payment_id: UUID, deleted: bool, actor_id: UUID | None) -> Payment: ...

    async def has_live_lines(self, payment_id: UUID) -> bool: ...

    async def recompute_totals(self, payment_id: UUID, actor_id: UUID | None) -> Payment:
        """Set the totals to the sums of the live lines (bumping the version); the payment must be locked."""

    async def add_line(
        self, kind: LineKind, line_id: UUID, payment_id: UUID, values: dict[str, Any], actor_id: UUID | None
    ) -> PaymentLine: ...

    async def line_for_update(self, kind: LineKind, line_id: UUID, payment_id: UUID) -> PaymentLine | None:
        """The live line of that payment, locked."""

    async def update_line(
        self, kind: LineKind, line_id: UUID, changes: dict[str, Any], actor_id: UUID | None
    ) -> PaymentLine: ...

    async def delete_line(self, kind: LineKind, line_id: UUID, actor_id: UUID | None) -> PaymentLine: ...

    async def add_history(
        self,
        payment_id: UUID,
        entity: str,
        entity_id: UUID,
        action: str,
        actor_id: UUID | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None: ...

    async def lock_unannounced_overdue(self, today: date, limit: int) -> list[Payment]:
        """Live payments of live policies that are overdue on ``today`` and not yet announced overdue for
        their current planned date, earliest first. Rows another transaction holds are skipped, not waited
        for (so the policy-then-payment lock order cannot deadlock with them)."""

    async def mark_overdue_announced(self, payment_ids: Sequence[UUID]) -> None:
        """Remember each payment's current planned date as announced; its version stays (nothing a user
        sees has changed)."""


class PaymentReader(Protocol):
    """Reads outside any transaction."""

    async def policy_is_live(self, deal_id: UUID, policy_id: UUID) -> bool: ...

    async def get(self, payment_id: UUID, policy_id: UUID) -> Payment | None: ...

    async def page(self, query: PaymentFilter) -> Page[Payment]: ...

    async def line(self, kind: LineKind, line_id: UUID, payment_id: UUID) -> PaymentLine | None: ...

    async def lines(self, kind: LineKind, payment_id: UUID, page: PageRequest) -> Page[PaymentLine]: ...

    async def history(self, payment_id: UUID, page: PageRequest) -> Page[HistoryEntry]: ...
