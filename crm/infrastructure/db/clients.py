"""Clients in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from crm.domain.access import Access, Resource
from crm.domain.clients.schemas import Client, ClientFilter
from crm.domain.pagination import Page
from crm.infrastructure.db.access import TableAccess
from crm.infrastructure.db.models import ClientRow
from crm.infrastructure.db.records import RecordReader, RecordRepository
from crm.infrastructure.db.sql import Connection, ListOrder, Where, contains_pattern
from crm.infrastructure.db.tables import TableSql

CLIENTS = TableSql(ClientRow)
GUARD = TableAccess(Resource.CLIENT, "clients")
ORDER = ListOrder("clients", ("created_at", "id"), (datetime, UUID), descending=True)


def client_of(row: asyncpg.Record) -> Client:
    return Client.model_validate(dict(row))


FIND_LIVE = f"{CLIENTS.select} WHERE id = $1 AND NOT is_deleted FOR KEY SHARE"
# A contact matches on the e-mail case aside, or on the phone's digits ("+7 (900) 1" is "79001").
FIND_BY_CONTACT = f"""
{CLIENTS.select}
WHERE NOT is_deleted AND (lower(email) = lower($1) OR regexp_replace(phone, '[^0-9]', '', 'g') = $2)
ORDER BY created_at, id
LIMIT 1
FOR KEY SHARE
"""


class PgClientRepository(RecordRepository[Client]):
    def __init__(self, connection: Connection, access: Access) -> None:
        super().__init__(connection, CLIENTS, client_of, access=access, guard=GUARD)

    async def find_live(self, client_id: UUID) -> Client | None:
        row = await self._conn.fetchrow(FIND_LIVE, client_id)
        return None if row is None else client_of(row)

    async def find_by_contact(self, email: str | None, phone: str | None) -> Client | None:
        digits = "".join(ch for ch in phone if ch.isdigit()) if phone else None
        if not email and not digits:
            return None
        row = await self._conn.fetchrow(FIND_BY_CONTACT, email, digits or None)
        return None if row is None else client_of(row)


def client_conditions(query: ClientFilter) -> Where:
    """The live clients the list's filters select (the list and the export alike)."""
    where = Where("NOT is_deleted")
    if query.search:
        pattern = contains_pattern(query.search)
        where.add("(name ILIKE {0} OR email ILIKE {0} OR phone ILIKE {0})", pattern)
    if query.status:
        where.add("status = {}", query.status.value)
    if query.owner_id:
        where.add("owner_id = {}", query.owner_id)
    return where


class PgClientReader(RecordReader[Client]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, CLIENTS, client_of, ORDER, GUARD)

    async def page(self, query: ClientFilter, access: Access) -> Page[Client]:
        return await self._page(client_conditions(query), query.page, access)
