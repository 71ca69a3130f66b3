"""Deal teams in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from crm.domain.access import Access, MemberRole, Resource
from crm.domain.deals.schemas import DealMember
from crm.domain.pagination import Page, PageRequest
from crm.infrastructure.db.access import TableAccess
from crm.infrastructure.db.deals import GUARD as DEAL_GUARD
from crm.infrastructure.db.models import DealMemberRow
from crm.infrastructure.db.records import TableReader
from crm.infrastructure.db.sql import Connection, ListOrder, Where
from crm.infrastructure.db.tables import TableSql

MEMBERS = TableSql(DealMemberRow)
# A deal's team is seen by whoever sees the deal.
GUARD = TableAccess(Resource.DEAL, "deal_members")
ORDER = ListOrder("deal_members", ("created_at", "user_id"), (datetime, UUID))
ON_THE_TEAM = "ON CONSTRAINT pk_deal_members DO NOTHING"
REMOVE = f"DELETE FROM {MEMBERS.name} WHERE deal_id = $1 AND user_id = $2 RETURNING {MEMBERS.columns}"


def _member(row: asyncpg.Record) -> DealMember:
    return DealMember.model_validate(dict(row))


class PgDealMemberRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def add(self, deal_id: UUID, user_id: UUID, role: MemberRole, actor_id: UUID | None) -> DealMember | None:
        values = {"deal_id": deal_id, "user_id": user_id, "role": role.value, "created_by_id": actor_id}
        statement, params = MEMBERS.insert(values, on_conflict=ON_THE_TEAM)
        row = await self._conn.fetchrow(statement, *params)
        return None if row is None else _member(row)

    async def remove(self, deal_id: UUID, user_id: UUID) -> DealMember | None:
        row = await self._conn.fetchrow(REMOVE, deal_id, user_id)
        return None if row is None else _member(row)


class PgDealMemberReader(TableReader[DealMember]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, MEMBERS, _member, ORDER, GUARD)

    async def deal_is_live(self, deal_id: UUID, access: Access) -> bool:
        return await DEAL_GUARD.is_live(self._pool, access, deal_id)

    async def page(self, deal_id: UUID, page: PageRequest, access: Access) -> Page[DealMember]:
        where = Where()
        where.add("deal_id = {}", deal_id)
        return await self._page(where, page, access)
