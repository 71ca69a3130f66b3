"""The rows crm-worker's occasions fire on, locked ``SKIP LOCKED``, and the marks that fire each once."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from uuid import UUID

from crm.domain.clock import Clock
from crm.domain.occasions.repository import PolicyParties
from crm.domain.payments.schemas import Payment
from crm.domain.policies.schemas import Policy, PolicyStatus
from crm.infrastructure.db.payments import PAYMENTS, payments_of
from crm.infrastructure.db.policies import POLICIES
from crm.infrastructure.db.sql import Connection

# Rows another transaction holds are skipped, not waited for: the policy-then-payment order of writers cannot
# deadlock with this. A row a concurrent run marked and committed is rechecked under the lock and left out.
# ix_payments_due_unnoticed_planned_date holds only the payments not yet noticed for their planned date.
LOCK_PAYMENTS_DUE = """
SELECT pay.id
FROM crm.payments pay JOIN crm.policies pol ON pol.id = pay.policy_id
WHERE NOT pay.is_deleted AND pay.due_noticed_for IS DISTINCT FROM pay.planned_date
  AND pay.planned_date BETWEEN $1 AND $2
  AND pay.cancelled_at IS NULL AND pay.incomes_total < pay.planned_amount
  AND NOT pol.is_deleted
ORDER BY pay.planned_date, pay.id
LIMIT $3
FOR UPDATE OF pay SKIP LOCKED
FOR KEY SHARE OF pol SKIP LOCKED
"""
MARK_DUE_NOTICED = "UPDATE crm.payments SET due_noticed_for = planned_date WHERE id = ANY($1::uuid[])"
# ix_policies_renewal_unnoticed_effective_to holds only the policies not yet noticed for their end date.
LOCK_POLICIES_TO_RENEW = """
SELECT id FROM crm.policies
WHERE NOT is_deleted AND renewal_noticed_for IS DISTINCT FROM effective_to
  AND status = ANY($1::text[]) AND effective_to BETWEEN $2 AND $3
ORDER BY effective_to, id
LIMIT $4
FOR UPDATE SKIP LOCKED
"""
MARK_RENEWAL_NOTICED = "UPDATE crm.policies SET renewal_noticed_for = effective_to WHERE id = ANY($1::uuid[])"
LOCK_POLICIES_ENDED = """
SELECT id FROM crm.policies
WHERE NOT is_deleted AND status = ANY($1::text[]) AND effective_to < $2
ORDER BY effective_to, id
LIMIT $3
FOR UPDATE SKIP LOCKED
"""
PARTIES = """
SELECT p.id AS policy_id, p.policy_number, p.deal_id, p.client_id, p.owner_id, d.owner_id AS deal_owner_id
FROM crm.policies p JOIN crm.deals d ON d.id = p.deal_id
WHERE p.id = ANY($1::uuid[])
"""


class PgOccasionRepository:
    def __init__(self, connection: Connection, clock: Clock) -> None:
        self._conn = connection
        self._payment = payments_of(clock)

    async def lock_payments_due(self, first: date, last: date, limit: int) -> list[Payment]:
        ids = [row["id"] for row in await self._conn.fetch(LOCK_PAYMENTS_DUE, first, last, limit)]
        if not ids:
            return []
        # A statement of its own, so it reads the rows as locked, not as its snapshot had them.
        rows = await self._conn.fetch(f"{PAYMENTS.select} WHERE id = ANY($1::uuid[]) ORDER BY planned_date, id", ids)
        return [self._payment(row) for row in rows]

    async def mark_due_noticed(self, payment_ids: Sequence[UUID]) -> None:
        await self._conn.execute(MARK_DUE_NOTICED, list(payment_ids))

    async def mark_renewal_noticed(self, policy_ids: Sequence[UUID]) -> None:
        await self._conn.execute(MARK_RENEWAL_NOTICED, list(policy_ids))

    async def lock_policies_to_renew(
        self, statuses: Collection[PolicyStatus], first: date, last: date, limit: int
    ) -> list[Policy]:
        rows = await self._conn.fetch(LOCK_POLICIES_TO_RENEW, sorted(s.value for s in statuses), first, last, limit)
        return await self._policies([row["id"] for row in rows])

    async def lock_policies_ended(self, statuses: Collection[PolicyStatus], before: date, limit: int) -> list[Policy]:
        rows = await self._conn.fetch(LOCK_POLICIES_ENDED, sorted(s.value for s in statuses), before, limit)
        return await self._policies([row["id"] for row in rows])

    async def parties(self, policy_ids: Collection[UUID]) -> dict[UUID, PolicyParties]:
        if not policy_ids:
            return {}
        rows = await self._conn.fetch(PARTIES, list(policy_ids))
        return {row["policy_id"]: PolicyParties(**dict(row)) for row in rows}

    async def _policies(self, ids: list[UUID]) -> list[Policy]:
        if not ids:
            return []
        rows = await self._conn.fetch(f"{POLICIES.select} WHERE id = ANY($1::uuid[]) ORDER BY effective_to, id", ids)
        return [Policy.model_validate(dict(row)) for row in rows]
