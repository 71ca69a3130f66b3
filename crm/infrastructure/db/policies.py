"""Policies in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from crm.domain.access import Access, Resource
from crm.domain.pagination import Page
from crm.domain.policies.schemas import Policy, PolicyFilter
from crm.infrastructure.db.access import TableAccess
from crm.infrastructure.db.models import PolicyRow
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, contains_pattern
from crm.infrastructure.db.tables import TableSql

# A policy's calculation is the live one pointing at it (one at most: calculations.linked_policy_id is
# unique). `policies` names the target table in SELECT, INSERT … RETURNING and UPDATE … RETURNING alike.
POLICIES = TableSql(
    PolicyRow,
    computed={
        "calculation_id": "(SELECT c.id FROM crm.calculations c WHERE c.linked_policy_id = policies.id"
        " AND NOT c.is_deleted)"
    },
    hidden={"renewal_noticed_for"},
)
GUARD = TableAccess(Resource.POLICY, "policies")
ORDER = ListOrder("policies", ("created_at", "id"), (datetime, UUID), descending=True)
# KEY SHARE is enough: deleting a deal or moving it to another client first locks it FOR UPDATE.
CLIENT_OF_LIVE_DEAL = "SELECT client_id FROM crm.deals WHERE id = $1 AND NOT is_deleted FOR KEY SHARE"


def _policy(row: asyncpg.Record) -> Policy:
    return Policy.model_validate(dict(row))


class PgPolicyRepository(RecordRepository[Policy]):
    def __init__(self, connection: Connection, access: Access) -> None:
        super().__init__(connection, POLICIES, _policy, access=access, guard=GUARD)

    async def count_live_payments(self, policy_id: UUID) -> int:
        count = await self._conn.fetchval(
            "SELECT count(*) FROM crm.payments WHERE policy_id = $1 AND NOT is_deleted", policy_id
        )
        return int(count)

    async def client_of_live_deal(self, deal_id: UUID) -> UUID | None:
        client_id: UUID | None = await self._conn.fetchval(CLIENT_OF_LIVE_DEAL, deal_id)
        return client_id


class PgPolicyReader(RecordReader[Policy]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, POLICIES, _policy, ORDER, GUARD)

    async def page(self, query: PolicyFilter, access: Access) -> Page[Policy]:
        where = Where("NOT is_deleted")
        if query.deal_id:
            where.add("deal_id = {}", query.deal_id)
        if query.client_id:
            where.add("client_id = {}", query.client_id)
        if query.statuses is not None:
            where.add("status = ANY({}::text[])", sorted(s.value for s in query.statuses))
        if query.expiring_before:
            where.add("effective_to < {}", query.expiring_before)
        if query.search:
            where.add("policy_number ILIKE {}", contains_pattern(query.search))
        return await self._page(where, query.page, access)
