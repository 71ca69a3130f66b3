"""Policy document links in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from crm.domain.pagination import Page, PageRequest, decode_cursor, encode_cursor
from crm.domain.policies.documents import PolicyDocument
from crm.infrastructure.db.sql import Connection, Where

COLUMNS = "id, policy_id, document_id, created_at"
CURSOR_KIND = "policy_documents"

# A duplicate (a concurrent one included) yields no row instead of an error that would abort the transaction.
INSERT = f"""
INSERT INTO crm.policy_documents (id, policy_id, document_id, created_by_id)
VALUES ($1, $2, $3, $4)
ON CONFLICT ON CONSTRAINT uq_policy_documents_policy_id_document_id DO NOTHING
RETURNING {COLUMNS}
"""
DELETE = f"DELETE FROM crm.policy_documents WHERE policy_id = $1 AND document_id = $2 RETURNING {COLUMNS}"


def _link(row: asyncpg.Record) -> PolicyDocument:
    return PolicyDocument.model_validate(dict(row))


class PgPolicyDocumentRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def add(
        self, link_id: UUID, policy_id: UUID, document_id: UUID, actor_id: UUID | None
    ) -> PolicyDocument | None:
        row = await self._conn.fetchrow(INSERT, link_id, policy_id, document_id, actor_id)
        return None if row is None else _link(row)

    async def remove(self, policy_id: UUID, document_id: UUID) -> PolicyDocument | None:
        row = await self._conn.fetchrow(DELETE, policy_id, document_id)
        return None if row is None else _link(row)


class PgPolicyDocumentReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(self, policy_id: UUID, page: PageRequest) -> Page[PolicyDocument]:
        where = Where()
        where.add("policy_id = {}", policy_id)
        total = None
        if page.with_total:
            total = await self._pool.fetchval(
                f"SELECT count(*) FROM crm.policy_documents WHERE {where.sql}", *where.params
            )
        if page.cursor:
            created_at, last_id = decode_cursor(CURSOR_KIND, page.cursor, (datetime, UUID))
            where.add("(created_at, id) > ({}, {})", created_at, last_id)
        limit = where.param(page.limit + 1)
        rows = await self._pool.fetch(
            f"SELECT {COLUMNS} FROM crm.policy_documents WHERE {where.sql} ORDER BY created_at, id LIMIT {limit}",
            *where.params,
        )
        items = [_link(row) for row in rows[: page.limit]]
        next_cursor = None
        if len(rows) > page.limit:
            last = items[-1]
            next_cursor = encode_cursor(CURSOR_KIND, (last.created_at, last.id))
        return Page[PolicyDocument](items=items, next_cursor=next_cursor, total=total)
