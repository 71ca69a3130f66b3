"""Clients in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.clients.schemas import Client, ClientFilter
from crm.domain.pagination import Page
from crm.infrastructure.db.records import RecordRepository
from crm.infrastructure.db.sql import (
    RECORD_COLUMNS,
    ListOrder,
    Where,
    column_list,
    contains_pattern,
    fetch_page,
    required,
)

COLUMNS = column_list((*RECORD_COLUMNS, "name", "email", "phone", "status", "owner_id"))
UPDATABLE = frozenset({"name", "email", "phone", "status", "owner_id"})
CURSOR_KIND = "clients"
ORDER = ListOrder(CURSOR_KIND, ("created_at", "id"), (datetime, UUID), descending=True)

SELECT_BY_ID = f"SELECT {COLUMNS} FROM crm.clients WHERE id = $1"
INSERT = f"""
INSERT INTO crm.clients (id, name, email, phone, status, owner_id, created_by_id, updated_by_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
RETURNING {COLUMNS}
"""


def _client(row: asyncpg.Record) -> Client:
    return Client.model_validate(dict(row))


class PgClientRepository(RecordRepository[Client]):
    table = "crm.clients"
    columns = COLUMNS
    updatable = UPDATABLE

    def _model(self, row: asyncpg.Record) -> Client:
        return _client(row)

    async def add(self, client_id: UUID, values: dict[str, Any], actor_id: UUID | None) -> Client:
        row = await self._conn.fetchrow(
            INSERT,
            client_id,
            values["name"],
            values["email"],
            values["phone"],
            values["status"],
            values["owner_id"],
            actor_id,
        )
        return _client(required(row))


class PgClientReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, client_id: UUID) -> Client | None:
        row = await self._pool.fetchrow(SELECT_BY_ID + " AND NOT is_deleted", client_id)
        return None if row is None else _client(row)

    async def page(self, query: ClientFilter) -> Page[Client]:
        where = Where("NOT is_deleted")
        if query.search:
            pattern = contains_pattern(query.search)
            where.add("(name ILIKE {0} OR email ILIKE {0} OR phone ILIKE {0})", pattern)
        if query.status:
            where.add("status = {}", query.status.value)
        if query.owner_id:
            where.add("owner_id = {}", query.owner_id)
        return await fetch_page(
            self._pool,
            source="crm.clients",
            columns=COLUMNS,
            where=where,
            page=query.page,
            order=ORDER,
            to_model=_client,
        )
