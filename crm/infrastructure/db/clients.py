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


def _client(row: asyncpg.Record) -> Client:
    return Client.model_validate(dict(row))


class PgClientRepository(RecordRepository[Client]):
    def __init__(self, connection: Connection, access: Access) -> None:
        super().__init__(connection, CLIENTS, _client, access=access, guard=GUARD)


class PgClientReader(RecordReader[Client]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, CLIENTS, _client, ORDER, GUARD)

    async def page(self, query: ClientFilter, access: Access) -> Page[Client]:
        where = Where("NOT is_deleted")
        if query.search:
            pattern = contains_pattern(query.search)
            where.add("(name ILIKE {0} OR email ILIKE {0} OR phone ILIKE {0})", pattern)
        if query.status:
            where.add("status = {}", query.status.value)
        if query.owner_id:
            where.add("owner_id = {}", query.owner_id)
        return await self._page(where, query.page, access)
