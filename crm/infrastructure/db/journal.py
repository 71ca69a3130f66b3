"""The deal journal in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from crm.domain.journal.schemas import JournalEntry, JournalFilter
from crm.domain.pagination import Page
from crm.infrastructure.db.sql import Connection, ListOrder, Where, column_list, fetch_page

COLUMNS = column_list(("id", "deal_id", "author_id", "body", "created_at"))
CURSOR_KIND = "deal_journal"
ORDER = ListOrder(CURSOR_KIND, ("created_at", "id"), (datetime, UUID))

# The explicit lock re-checks `NOT is_deleted` after a concurrent deal delete commits (the delete
# locks the deal FOR UPDATE first), which the foreign key's own KEY SHARE lock alone would not.
APPEND_TO_LIVE_DEAL = f"""
WITH deal AS (
    SELECT id FROM crm.deals WHERE id = $2 AND NOT is_deleted FOR KEY SHARE
)
INSERT INTO crm.deal_journal (id, deal_id, author_id, body)
SELECT $1, deal.id, $4, $3 FROM deal
RETURNING {COLUMNS}
"""


def _entry(row: asyncpg.Record) -> JournalEntry:
    return JournalEntry.model_validate(dict(row))


class PgJournalRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def append_to_live_deal(
        self, entry_id: UUID, deal_id: UUID, body: str, author_id: UUID | None
    ) -> JournalEntry | None:
        row = await self._conn.fetchrow(APPEND_TO_LIVE_DEAL, entry_id, deal_id, body, author_id)
        return None if row is None else _entry(row)


class PgJournalReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def deal_is_live(self, deal_id: UUID) -> bool:
        found = await self._pool.fetchval("SELECT true FROM crm.deals WHERE id = $1 AND NOT is_deleted", deal_id)
        return bool(found)

    async def page(self, query: JournalFilter) -> Page[JournalEntry]:
        where = Where()
        where.add("deal_id = {}", query.deal_id)
        # Served by ix_deal_journal_deal_list_order (deal_id, created_at, id).
        return await fetch_page(
            self._pool,
            source="crm.deal_journal",
            columns=COLUMNS,
            where=where,
            page=query.page,
            order=ORDER,
            to_model=_entry,
        )
