"""Policy document links in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from crm.domain.access import EVERYTHING
from crm.domain.pagination import Page, PageRequest
from crm.domain.policies.documents import PolicyDocument
from crm.infrastructure.db.models import PolicyDocumentRow
from crm.infrastructure.db.records import TableReader
from crm.infrastructure.db.sql import Connection, ListOrder, Where
from crm.infrastructure.db.tables import TableSql

LINKS = TableSql(PolicyDocumentRow, hidden={"created_by_id"})
ORDER = ListOrder("policy_documents", ("created_at", "id"), (datetime, UUID))

# A duplicate (a concurrent one included) yields no row instead of an error that would abort the transaction.
ALREADY_LINKED = "ON CONSTRAINT uq_policy_documents_policy_id_document_id DO NOTHING"
DELETE = f"DELETE FROM {LINKS.name} WHERE policy_id = $1 AND document_id = $2 RETURNING {LINKS.columns}"


def _link(row: asyncpg.Record) -> PolicyDocument:
    return PolicyDocument.model_validate(dict(row))


class PgPolicyDocumentRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def add(
        self, link_id: UUID, policy_id: UUID, document_id: UUID, actor_id: UUID | None
    ) -> PolicyDocument | None:
        values = {"id": link_id, "policy_id": policy_id, "document_id": document_id, "created_by_id": actor_id}
        statement, params = LINKS.insert(values, on_conflict=ALREADY_LINKED)
        row = await self._conn.fetchrow(statement, *params)
        return None if row is None else _link(row)

    async def remove(self, policy_id: UUID, document_id: UUID) -> PolicyDocument | None:
        row = await self._conn.fetchrow(DELETE, policy_id, document_id)
        return None if row is None else _link(row)


class PgPolicyDocumentReader(TableReader[PolicyDocument]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, LINKS, _link, ORDER)

    async def page(self, policy_id: UUID, page: PageRequest) -> Page[PolicyDocument]:
        where = Where()
        where.add("policy_id = {}", policy_id)
        # Reached through the policy, which the use case found the caller sees.
        return await self._page(where, page, EVERYTHING)
