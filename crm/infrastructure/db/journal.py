"""The deal journal in PostgreSQL, through asyncpg."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from crm.domain.access import Access, Resource
from crm.domain.journal.schemas import JournalEntry, JournalFilter
from crm.domain.pagination import Page
from crm.infrastructure.db.access import TableAccess, reach
from crm.infrastructure.db.deals import JOURNAL_OF_DEAL
from crm.infrastructure.db.models import JournalEntryRow
from crm.infrastructure.db.records import TableReader
from crm.infrastructure.db.sql import Connection, ListOrder, Where
from crm.infrastructure.db.tables import TableSql

JOURNAL = TableSql(JournalEntryRow)
GUARD = TableAccess(Resource.JOURNAL, "deal_journal")
ORDER = ListOrder("deal_journal", ("created_at", "id"), (datetime, UUID))

# The explicit lock re-checks `NOT is_deleted` after a concurrent deal delete commits (the delete
# locks the deal FOR UPDATE first), which the foreign key's own KEY SHARE lock alone would not.
LIVE_DEAL = ("deal", "SELECT id FROM crm.deals WHERE id = {deal_id} AND NOT is_deleted FOR KEY SHARE")


def _entry(row: asyncpg.Record) -> JournalEntry:
    return JournalEntry.model_validate(dict(row))


class PgJournalRepository:
    def __init__(self, connection: Connection, access: Access) -> None:
        self._conn = connection
        self._access = access

    async def append_to_live_deal(
        self, entry_id: UUID, deal_id: UUID, body: str, author_id: UUID | None
    ) -> JournalEntry | None:
        if not await reach(self._conn, JOURNAL_OF_DEAL, self._access, deal_id, change=True):
            return None
        values = {"id": entry_id, "deal_id": deal_id, "author_id": author_id, "body": body}
        statement, params = JOURNAL.insert(values, guard=LIVE_DEAL)
        row = await self._conn.fetchrow(statement, *params)
        return None if row is None else _entry(row)


class PgJournalReader(TableReader[JournalEntry]):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, JOURNAL, _entry, ORDER, GUARD)

    async def deal_is_live(self, deal_id: UUID, access: Access) -> bool:
        return await JOURNAL_OF_DEAL.is_live(self._pool, access, deal_id)

    async def page(self, query: JournalFilter, access: Access) -> Page[JournalEntry]:
        where = Where()
        where.add("deal_id = {}", query.deal_id)
        # Served by ix_deal_journal_deal_list_order (deal_id, created_at, id).
        return await self._page(where, query.page, access)
