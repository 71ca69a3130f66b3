"""Deals in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

from crm.domain.access import Access, Resource
from crm.domain.deals.rules import OPEN_STATUSES, DealStatus, StatusCount
from crm.domain.deals.schemas import Deal, DealFilter
from crm.domain.pagination import Page
from crm.infrastructure.db.access import TableAccess
from crm.infrastructure.db.models import DealRow
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, contains_pattern
from crm.infrastructure.db.tables import TableSql

DEALS = TableSql(DealRow)
GUARD = TableAccess(Resource.DEAL, "deals", deal_column="id")
# What hangs off a deal is reached through it, with its own kind's grants.
CALCULATIONS_OF_DEAL = TableAccess(Resource.CALCULATION, "deals", deal_column="id")
JOURNAL_OF_DEAL = TableAccess(Resource.JOURNAL, "deals", deal_column="id")
ORDER = ListOrder("deals", ("next_review_at", "updated_at", "id"), (date, datetime, UUID))
OPEN_STATUS_VALUES = sorted(s.value for s in OPEN_STATUSES)

STATUS_COUNTS = """
SELECT status,
       count(*) AS count,
       coalesce(sum((
           SELECT sum(pm.planned_amount)
           FROM crm.payments pm JOIN crm.policies po ON po.id = pm.policy_id
           WHERE po.deal_id = deals.id AND NOT po.is_deleted AND NOT pm.is_deleted AND pm.cancelled_at IS NULL
       )), 0)::numeric AS total_value,
       coalesce(sum(extract(epoch FROM coalesce(closed_at, now()) - created_at)), 0)::float8 / 86400
           AS cycle_days_sum
FROM crm.deals
WHERE {where}
GROUP BY status
"""


def deal_of(row: asyncpg.Record) -> Deal:
    return Deal.model_validate(dict(row))


class PgDealRepository(RecordRepository[Deal]):
    def __init__(self, connection: Connection, access: Access) -> None:
        super().__init__(connection, DEALS, deal_of, access=access, guard=GUARD)

    async def count_live_policies(self, deal_id: UUID) -> int:
        count = await self._conn.fetchval(
            "SELECT count(*) FROM crm.policies WHERE deal_id = $1 AND NOT is_deleted", deal_id
        )
        return int(count)

    async def count_open_for_client(self, client_id: UUID) -> int:
        count = await self._conn.fetchval(
            "SELECT count(*) FROM crm.deals WHERE client_id = $1 AND NOT is_deleted AND status = ANY($2::text[])",
            client_id,
            OPEN_STATUS_VALUES,
        )
        return int(count)


def deal_conditions(query: DealFilter) -> Where:
    """The live deals the list's filters select (the list, its metrics and the export alike)."""
    where = Where("NOT is_deleted")
    if query.statuses is not None:
        where.add("status = ANY({}::text[])", sorted(s.value for s in query.statuses))
    if query.owner_ids and query.include_unassigned:
        where.add("(owner_id = ANY({}::uuid[]) OR owner_id IS NULL)", sorted(query.owner_ids))
    elif query.owner_ids:
        where.add("owner_id = ANY({}::uuid[])", sorted(query.owner_ids))
    elif query.include_unassigned:
        where.add("owner_id IS NULL")
    if query.client_id:
        where.add("client_id = {}", query.client_id)
    if query.review_due_by:
        where.add("next_review_at <= {}", query.review_due_by)
    if query.search:
        where.add("(title ILIKE {0} OR description ILIKE {0})", contains_pattern(query.search))
    return where


class PgDealReader(RecordReader[Deal]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, DEALS, deal_of, ORDER, GUARD)

    async def page(self, query: DealFilter, access: Access) -> Page[Deal]:
        return await self._page(deal_conditions(query), query.page, access)

    async def status_counts(self, query: DealFilter, access: Access) -> list[StatusCount]:
        where = deal_conditions(query)
        GUARD.sees(access, where)
        rows = await self._pool.fetch(STATUS_COUNTS.format(where=where.sql), *where.params)
        return [
            StatusCount(
                status=DealStatus(row["status"]),
                count=row["count"],
                total_value=row["total_value"],
                cycle_days_sum=row["cycle_days_sum"],
            )
            for row in rows
        ]
