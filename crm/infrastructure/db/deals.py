"""Deals in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

from crm.domain.access import Access, Resource
from crm.domain.deals.rules import OPEN_STATUSES, StageCount
from crm.domain.deals.schemas import Deal, DealFilter, StageHistoryEntry, StageTransition
from crm.domain.pagination import Page, PageRequest
from crm.infrastructure.db.access import TableAccess
from crm.infrastructure.db.models import DealRow, DealStageHistoryRow
from crm.infrastructure.db.payments import deal_value
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, contains_pattern, fetch_page
from crm.infrastructure.db.tables import TableSql

# A deal serves its stage's key (stage keys never change, so the deal's version covers it).
DEALS = TableSql(DealRow, computed={"stage": "(SELECT key FROM crm.pipeline_stages WHERE id = deals.stage_id)"})
HISTORY = TableSql(DealStageHistoryRow)
HISTORY_ORDER = ListOrder("deal_stage_history", ("id",), (int,))
HISTORY_COLUMNS = tuple(name for name in StageHistoryEntry.model_fields if name != "id")
INSERT_HISTORY = f"""
INSERT INTO crm.deal_stage_history ({", ".join(HISTORY_COLUMNS)})
VALUES ({", ".join(f"${number}" for number in range(1, len(HISTORY_COLUMNS) + 1))})
"""
GUARD = TableAccess(Resource.DEAL, "deals", deal_column="id")
# What hangs off a deal is reached through it, with its own kind's grants.
CALCULATIONS_OF_DEAL = TableAccess(Resource.CALCULATION, "deals", deal_column="id")
JOURNAL_OF_DEAL = TableAccess(Resource.JOURNAL, "deals", deal_column="id")
ORDER = ListOrder("deals", ("next_review_at", "updated_at", "id"), (date, datetime, UUID))
OPEN_STATUS_VALUES = sorted(s.value for s in OPEN_STATUSES)


STAGE_COUNTS = """
SELECT stage_id,
       count(*) AS count,
       coalesce(sum(({deal_value})), 0)::numeric AS total_value,
       coalesce(sum(extract(epoch FROM coalesce(closed_at, now()) - created_at)), 0)::float8 / 86400
           AS cycle_days_sum
FROM crm.deals
WHERE {where}
GROUP BY stage_id
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

    async def add_stage_transition(self, transition: StageTransition) -> None:
        await self._conn.execute(INSERT_HISTORY, *(getattr(transition, name) for name in HISTORY_COLUMNS))


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
    if query.pipeline_id:
        where.add("pipeline_id = {}", query.pipeline_id)
    if query.stages is not None:
        # Keys never change, and no live deal stands in a removed stage: the stages with these keys, anywhere.
        where.add("stage_id IN (SELECT id FROM crm.pipeline_stages WHERE key = ANY({}::text[]))", sorted(query.stages))
    return where


class PgDealReader(RecordReader[Deal]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, DEALS, deal_of, ORDER, GUARD)

    async def page(self, query: DealFilter, access: Access) -> Page[Deal]:
        return await self._page(deal_conditions(query), query.page, access)

    async def stage_counts(self, query: DealFilter, access: Access) -> list[StageCount]:
        where = deal_conditions(query)
        GUARD.sees(access, where)
        rows = await self._pool.fetch(
            STAGE_COUNTS.format(where=where.sql, deal_value=deal_value("deals.id")), *where.params
        )
        return [
            StageCount(
                stage_id=row["stage_id"],
                count=row["count"],
                total_value=row["total_value"],
                cycle_days_sum=row["cycle_days_sum"],
            )
            for row in rows
        ]

    async def stage_history(self, deal_id: UUID, page: PageRequest) -> Page[StageHistoryEntry]:
        where = Where()
        where.add("deal_id = {}", deal_id)
        return await fetch_page(
            self._pool,
            source=HISTORY.name,
            columns=HISTORY.columns,
            where=where,
            page=page,
            order=HISTORY_ORDER,
            to_model=lambda row: StageHistoryEntry.model_validate(dict(row)),
        )
