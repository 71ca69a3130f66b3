"""The writes every versioned, soft-deletable record shares, once for all their repositories."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

import asyncpg

from crm.infrastructure.db.sql import Connection, required, set_deleted_statement, update_statement

T = TypeVar("T")


class RecordRepository(Generic[T]):
    """Subclasses name their table, its served columns and what ``update`` may change, and map a row."""

    table: ClassVar[str]
    columns: ClassVar[str]
    updatable: ClassVar[frozenset[str]]

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def _model(self, row: asyncpg.Record) -> T:
        raise NotImplementedError

    async def get_for_update(self, record_id: UUID) -> T | None:
        """The record, live or deleted, locked against concurrent changes until the transaction ends."""
        row = await self._conn.fetchrow(f"SELECT {self.columns} FROM {self.table} WHERE id = $1 FOR UPDATE", record_id)
        return None if row is None else self._model(row)

    async def lock_live_for_share(self, record_id: UUID) -> bool:
        """True if the record exists and is not deleted; it cannot be deleted until the transaction ends."""
        found = await self._conn.fetchval(
            f"SELECT true FROM {self.table} WHERE id = $1 AND NOT is_deleted FOR KEY SHARE", record_id
        )
        return bool(found)

    async def update(self, record_id: UUID, changes: dict[str, Any], actor_id: UUID | None) -> T:
        statement, params = update_statement(self.table, changes, self.updatable, self.columns)
        params[0], params[-1] = record_id, actor_id
        return self._model(required(await self._conn.fetchrow(statement, *params)))

    async def set_deleted(self, record_id: UUID, deleted: bool, actor_id: UUID | None) -> T:
        statement = set_deleted_statement(self.table, self.columns)
        return self._model(required(await self._conn.fetchrow(statement, record_id, deleted, actor_id)))
