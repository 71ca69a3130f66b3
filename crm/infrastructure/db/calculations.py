"""Calculations in PostgreSQL, through asyncpg; the validity period is a ``daterange``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.calculations.rules import CalculationStatus
from crm.domain.calculations.schemas import Calculation, CalculationFilter
from crm.domain.pagination import Page
from crm.infrastructure.db.sql import (
    RECORD_COLUMNS,
    Connection,
    ListOrder,
    Where,
    column_list,
    contains_pattern,
    fetch_page,
    required,
    update_statement,
)

COLUMNS = column_list(
    (
        *RECORD_COLUMNS,
        "deal_id",
        "insurance_company",
        "program_name",
        "premium_amount",
        "coverage_sum",
        "calculation_date",
        "validity_period",
        "files",
        "comments",
        "owner_id",
        "status",
        "linked_policy_id",
    )
)
UPDATABLE = frozenset(
    {
        "insurance_company",
        "program_name",
        "premium_amount",
        "coverage_sum",
        "calculation_date",
        "validity_period",
        "files",
        "comments",
        "owner_id",
        "status",
        "linked_policy_id",
    }
)
CURSOR_KIND = "calculations"
ORDER = ListOrder(CURSOR_KIND, ("created_at", "id"), (datetime, UUID))
ONE_DAY = timedelta(days=1)

SELECT_LIVE = f"SELECT {COLUMNS} FROM crm.calculations WHERE id = $1 AND deal_id = $2 AND NOT is_deleted"
DEAL_IS_LIVE = "SELECT true FROM crm.deals WHERE id = $1 AND NOT is_deleted"
# FOR SHARE (not KEY SHARE) makes a concurrent soft delete of the deal wait for this transaction, and
# makes this one re-check `NOT is_deleted` if the delete committed first.
LOCK_LIVE_DEAL = DEAL_IS_LIVE + " FOR SHARE"
LOCK_LIVE_POLICY_OF_DEAL = (
    "SELECT true FROM crm.policies WHERE id = $1 AND deal_id = $2 AND NOT is_deleted FOR KEY SHARE"
)
INSERT = f"""
INSERT INTO crm.calculations
    (id, deal_id, insurance_company, program_name, premium_amount, coverage_sum, calculation_date,
     validity_period, files, comments, owner_id, status, created_by_id, updated_by_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '{CalculationStatus.DRAFT.value}', $12, $12)
RETURNING {COLUMNS}
"""
# The UPDATE locks the previous holder (and waits for a concurrent change of it) before unlinking.
UNLINK_POLICY = f"""
UPDATE crm.calculations
SET linked_policy_id = NULL, version = version + 1, updated_at = now(), updated_by_id = $3
WHERE linked_policy_id = $1 AND id <> $2
RETURNING {COLUMNS}
"""
DELETE = f"""
UPDATE crm.calculations
SET is_deleted = true, deleted_at = now(), deleted_by_id = $2, linked_policy_id = NULL,
    version = version + 1, updated_at = now(), updated_by_id = $2
WHERE id = $1
RETURNING {COLUMNS}
"""


def to_daterange(period: dict[str, date | None] | None) -> asyncpg.Range[date] | None:
    """An inclusive ``{start, end}`` as the half-open range PostgreSQL keeps: ``[start, end + 1 day)``."""
    if period is None:
        return None
    start, end = period["start"], period["end"]
    return asyncpg.Range(start, None if end is None else end + ONE_DAY, lower_inc=True, upper_inc=False)


def from_daterange(value: asyncpg.Range[date] | None) -> dict[str, date | None] | None:
    if value is None or value.isempty:
        return None
    start, end = value.lower, value.upper
    if start is not None and not value.lower_inc:
        start += ONE_DAY
    if end is not None and not value.upper_inc:
        end -= ONE_DAY
    return {"start": start, "end": end}


def _calculation(row: asyncpg.Record) -> Calculation:
    fields = dict(row)
    fields["validity_period"] = from_daterange(fields["validity_period"])
    return Calculation.model_validate(fields)


class PgCalculationRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def lock_live_deal(self, deal_id: UUID) -> bool:
        return bool(await self._conn.fetchval(LOCK_LIVE_DEAL, deal_id))

    async def add(
        self, calculation_id: UUID, deal_id: UUID, values: dict[str, Any], actor_id: UUID | None
    ) -> Calculation:
        row = await self._conn.fetchrow(
            INSERT,
            calculation_id,
            deal_id,
            values["insurance_company"],
            values["program_name"],
            values["premium_amount"],
            values["coverage_sum"],
            values["calculation_date"],
            to_daterange(values["validity_period"]),
            values["files"],
            values["comments"],
            values["owner_id"],
            actor_id,
        )
        return _calculation(required(row))

    async def get_for_update(self, deal_id: UUID, calculation_id: UUID) -> Calculation | None:
        row = await self._conn.fetchrow(SELECT_LIVE + " FOR UPDATE", calculation_id, deal_id)
        return None if row is None else _calculation(row)

    async def update(self, calculation_id: UUID, changes: dict[str, Any], actor_id: UUID | None) -> Calculation:
        values = dict(changes)
        if "validity_period" in values:
            values["validity_period"] = to_daterange(values["validity_period"])
        statement, params = update_statement("crm.calculations", values, UPDATABLE, COLUMNS)
        params[0], params[-1] = calculation_id, actor_id
        return _calculation(required(await self._conn.fetchrow(statement, *params)))

    async def delete(self, calculation_id: UUID, actor_id: UUID | None) -> Calculation:
        return _calculation(required(await self._conn.fetchrow(DELETE, calculation_id, actor_id)))

    async def lock_live_policy_of_deal(self, policy_id: UUID, deal_id: UUID) -> bool:
        return bool(await self._conn.fetchval(LOCK_LIVE_POLICY_OF_DEAL, policy_id, deal_id))

    async def unlink_policy(self, policy_id: UUID, keep_id: UUID, actor_id: UUID | None) -> Calculation | None:
        row = await self._conn.fetchrow(UNLINK_POLICY, policy_id, keep_id, actor_id)
        return None if row is None else _calculation(row)


def _filters(query: CalculationFilter) -> Where:
    where = Where("NOT is_deleted")
    where.add("deal_id = {}", query.deal_id)
    if query.statuses is not None:
        where.add("status = ANY({}::text[])", sorted(s.value for s in query.statuses))
    if query.insurance_company:
        where.add("insurance_company ILIKE {}", contains_pattern(query.insurance_company))
    if query.calculation_date_from:
        where.add("calculation_date >= {}", query.calculation_date_from)
    if query.calculation_date_to:
        where.add("calculation_date <= {}", query.calculation_date_to)
    return where


class PgCalculationReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def deal_is_live(self, deal_id: UUID) -> bool:
        return bool(await self._pool.fetchval(DEAL_IS_LIVE, deal_id))

    async def get(self, deal_id: UUID, calculation_id: UUID) -> Calculation | None:
        row = await self._pool.fetchrow(SELECT_LIVE, calculation_id, deal_id)
        return None if row is None else _calculation(row)

    async def page(self, query: CalculationFilter) -> Page[Calculation]:
        """Oldest first, ``(created_at, id)``: the order of ``ix_calculations_deal_list_order``."""
        where = _filters(query)
        return await fetch_page(
            self._pool,
            source="crm.calculations",
            columns=COLUMNS,
            where=where,
            page=query.page,
            order=ORDER,
            to_model=_calculation,
        )
