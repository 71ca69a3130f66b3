"""Calculations in PostgreSQL, through asyncpg; the validity period is a ``daterange``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.access import Access, Resource
from crm.domain.calculations.schemas import Calculation, CalculationFilter
from crm.domain.pagination import Page
from crm.infrastructure.db.access import TableAccess, reach
from crm.infrastructure.db.deals import CALCULATIONS_OF_DEAL
from crm.infrastructure.db.models import CalculationRow
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, contains_pattern, required
from crm.infrastructure.db.tables import TableSql

CALCULATIONS = TableSql(CalculationRow, fixed={"deal_id"})
GUARD = TableAccess(Resource.CALCULATION, "calculations")
ORDER = ListOrder("calculations", ("created_at", "id"), (datetime, UUID))
ONE_DAY = timedelta(days=1)

SELECT_OF_DEAL = f"{CALCULATIONS.select} WHERE id = $1 AND deal_id = $2"
# FOR SHARE (not KEY SHARE) makes a concurrent soft delete of the deal wait for this transaction, and
# makes this one re-check `NOT is_deleted` if the delete committed first.
LOCK_LIVE_DEAL = "SELECT true FROM crm.deals WHERE id = $1 AND NOT is_deleted FOR SHARE"
LOCK_LIVE_POLICY_OF_DEAL = (
    "SELECT true FROM crm.policies WHERE id = $1 AND deal_id = $2 AND NOT is_deleted FOR KEY SHARE"
)
# The UPDATE locks the previous holder (and waits for a concurrent change of it) before unlinking.
UNLINK_POLICY = f"""
UPDATE crm.calculations
SET linked_policy_id = NULL, version = version + 1, updated_at = now(), updated_by_id = $3
WHERE linked_policy_id = $1 AND id <> $2
RETURNING {CALCULATIONS.columns}
"""
# A deleted calculation lets go of its policy, so the policy can be linked again.
DELETE = f"""
UPDATE crm.calculations
SET is_deleted = true, deleted_at = now(), deleted_by_id = $2, linked_policy_id = NULL,
    version = version + 1, updated_at = now(), updated_by_id = $2
WHERE id = $1
RETURNING {CALCULATIONS.columns}
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


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as the table keeps them: the validity period as a ``daterange``."""
    stored = dict(values)
    if "validity_period" in stored:
        stored["validity_period"] = to_daterange(stored["validity_period"])
    return stored


def _calculation(row: asyncpg.Record) -> Calculation:
    fields = dict(row)
    fields["validity_period"] = from_daterange(fields["validity_period"])
    return Calculation.model_validate(fields)


class PgCalculationRepository(RecordRepository[Calculation]):
    def __init__(self, connection: Connection, access: Access) -> None:
        super().__init__(connection, CALCULATIONS, _calculation, access=access, guard=GUARD)

    async def lock_live_deal(self, deal_id: UUID) -> bool:
        if not await reach(self._conn, CALCULATIONS_OF_DEAL, self._access, deal_id, change=True):
            return False
        return bool(await self._conn.fetchval(LOCK_LIVE_DEAL, deal_id))

    async def add(self, record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> Calculation:
        return await super().add(record_id, _stored(values), actor_id)

    async def get_of_deal_for_update(self, deal_id: UUID, calculation_id: UUID) -> Calculation | None:
        if not await self.reach(calculation_id, change=True):
            return None
        row = await self._conn.fetchrow(SELECT_OF_DEAL + " FOR UPDATE", calculation_id, deal_id)
        return None if row is None else _calculation(row)

    async def update(self, record_id: UUID, changes: Mapping[str, Any], actor_id: UUID | None) -> Calculation:
        return await super().update(record_id, _stored(changes), actor_id)

    async def set_deleted(self, record_id: UUID, deleted: bool, actor_id: UUID | None) -> Calculation:
        if not deleted:
            return await super().set_deleted(record_id, deleted, actor_id)
        return _calculation(required(await self._conn.fetchrow(DELETE, record_id, actor_id)))

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


class PgCalculationReader(RecordReader[Calculation]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, CALCULATIONS, _calculation, ORDER, GUARD)

    async def deal_is_live(self, deal_id: UUID, access: Access) -> bool:
        return await CALCULATIONS_OF_DEAL.is_live(self._pool, access, deal_id)

    async def get_of_deal(self, deal_id: UUID, calculation_id: UUID, access: Access) -> Calculation | None:
        where = Where("NOT is_deleted")
        where.add("id = {} AND deal_id = {}", calculation_id, deal_id)
        GUARD.sees(access, where)
        row = await self._pool.fetchrow(f"{CALCULATIONS.select} WHERE {where.sql}", *where.params)
        return None if row is None else _calculation(row)

    async def page(self, query: CalculationFilter, access: Access) -> Page[Calculation]:
        """Oldest first, ``(created_at, id)``: the order of ``ix_calculations_deal_list_order``."""
        return await self._page(_filters(query), query.page, access)
