"""Deals in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.deals.rules import OPEN_STATUSES, DealStatus, StatusCount
from crm.domain.deals.schemas import Deal, DealFilter
from crm.domain.pagination import Page
from crm.infrastructure.db.records import RecordRepository
from crm.infrastructure.db.sql import (
    RECORD_COLUMNS,
    ListOrder,
    Where,
    column_list,
    contains_pattern,
    fetch_page,
)

COLUMNS = column_list(
    (
        *RECORD_COLUMNS,
        "client_id",
        "title",
        "description",
        "status",
        "next_review_at",
        "owner_id",
        "closed_at",
    )
)
UPDATABLE = frozenset({"client_id", "title", "description", "status", "next_review_at", "owner_id", "closed_at"})
CURSOR_KIND = "deals"
ORDER = ListOrder(CURSOR_KIND, ("next_review_at", "updated_at", "id"), (date, datetime, UUID))
OPEN_STATUS_VALUES = sorted(s.value for s in OPEN_STATUSES)

SELECT_BY_ID = f"SELECT {COLUMNS} FROM crm.deals WHERE id = $1"
# The explicit lock re-checks `NOT is_deleted` after a concurrent client delete commits, which the
# foreign key's own KEY SHARE lock alone would not.
INSERT_FOR_LIVE_CLIENT = f"""
WITH client AS (
    SELECT id FROM crm.clients WHERE id = $2 AND NOT is_deleted FOR KEY SHARE
)
INSERT INTO crm.deals
    (id, client_id, title, description, status, next_review_at, owner_id, created_by_id, updated_by_id)
SELECT $1, client.id, $3, $4, $5, $6, $7, $8, $8 FROM client
RETURNING {COLUMNS}
"""
# Payments add their planned amounts here (total_value); until then every stage is worth 0.
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


def _deal(row: asyncpg.Record) -> Deal:
    return Deal.model_validate(dict(row))


class PgDealRepository(RecordRepository[Deal]):
    table = "crm.deals"
    columns = COLUMNS
    updatable = UPDATABLE

    def _model(self, row: asyncpg.Record) -> Deal:
        return _deal(row)

    async def add_for_live_client(self, deal_id: UUID, values: dict[str, Any], actor_id: UUID | None) -> Deal | None:
        row = await self._conn.fetchrow(
            INSERT_FOR_LIVE_CLIENT,
            deal_id,
            values["client_id"],
            values["title"],
            values["description"],
            values["status"],
            values["next_review_at"],
            values["owner_id"],
            actor_id,
        )
        return None if row is None else _deal(row)

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


def _filters(query: DealFilter) -> Where:
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


class PgDealReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, deal_id: UUID) -> Deal | None:
        row = await self._pool.fetchrow(SELECT_BY_ID + " AND NOT is_deleted", deal_id)
        return None if row is None else _deal(row)

    async def page(self, query: DealFilter) -> Page[Deal]:
        where = _filters(query)
        return await fetch_page(
            self._pool, source="crm.deals", columns=COLUMNS, where=where, page=query.page, order=ORDER, to_model=_deal
        )

    async def status_counts(self, query: DealFilter) -> list[StatusCount]:
        where = _filters(query)
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
