"""What every table's repository and reader share: the writes of a versioned, soft-deletable record, and the
reads by id and by keyset page."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg

from crm.domain.access import EVERYTHING, Access
from crm.domain.pagination import Page, PageRequest
from crm.infrastructure.db.access import TableAccess, reach
from crm.infrastructure.db.sql import Connection, ListOrder, Where, fetch_page, required
from crm.infrastructure.db.tables import TableSql

T = TypeVar("T")


class RecordRepository(Generic[T]):
    """One table's records on the unit of work's connection: ``to_model`` turns a served row into a record.

    With ``guard``, the unit of work's caller (``access``) reaches only the rows the access rules give them: a
    row they may not see is not found, one they may not change is refused.
    """

    def __init__(
        self,
        connection: Connection,
        table: TableSql,
        to_model: Callable[[asyncpg.Record], T],
        *,
        access: Access = EVERYTHING,
        guard: TableAccess | None = None,
    ) -> None:
        self._conn = connection
        self._table = table
        self._model = to_model
        self._access = access
        self._guard = guard

    async def add(self, record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> T:
        """Insert a record made by ``actor_id`` from ``values`` (column -> value)."""
        statement, params = self._table.insert(self._new(record_id, values, actor_id))
        return self._model(required(await self._conn.fetchrow(statement, *params)))

    async def add_many(self, records: Sequence[tuple[UUID, Mapping[str, Any]]], actor_id: UUID | None) -> list[T]:
        """Insert records (id, values) made by ``actor_id`` in one statement; returned in the order given."""
        if not records:
            return []
        statement, params = self._table.insert_many([self._new(i, values, actor_id) for i, values in records])
        made = {row["id"]: row for row in await self._conn.fetch(statement, *params)}
        return [self._model(made[record_id]) for record_id, _ in records]

    async def get_for_update(self, record_id: UUID) -> T | None:
        """The record, live or deleted, locked against concurrent changes until the transaction ends; ``None``
        if the caller may not see it, ``Forbidden`` if they may not change it."""
        if not await self.reach(record_id, change=True):
            return None
        row = await self._conn.fetchrow(f"{self._table.select} WHERE id = $1 FOR UPDATE", record_id)
        return None if row is None else self._model(row)

    async def lock_live_for_share(self, record_id: UUID) -> bool:
        """True if the record exists, is not deleted and the caller sees it; it cannot be deleted until the
        transaction ends."""
        if not await self.reach(record_id, change=False):
            return False
        found = await self._conn.fetchval(
            f"SELECT true FROM {self._table.name} WHERE id = $1 AND NOT is_deleted FOR KEY SHARE", record_id
        )
        return bool(found)

    async def reach(self, record_id: UUID, *, change: bool) -> bool:
        """Whether the caller sees the record (``Forbidden`` if ``change`` and they may not change it)."""
        if self._guard is None:
            return True
        return await reach(self._conn, self._guard, self._access, record_id, change=change)

    async def update(self, record_id: UUID, changes: Mapping[str, Any], actor_id: UUID | None) -> T:
        statement, params = self._table.update(record_id, changes, actor_id)
        return self._model(required(await self._conn.fetchrow(statement, *params)))

    async def set_deleted(self, record_id: UUID, deleted: bool, actor_id: UUID | None) -> T:
        return self._model(required(await self._conn.fetchrow(self._table.set_deleted, record_id, deleted, actor_id)))

    @staticmethod
    def _new(record_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> dict[str, Any]:
        """The values of a new record with its id and audit columns."""
        return {"id": record_id, **values, "created_by_id": actor_id, "updated_by_id": actor_id}


class TableReader(Generic[T]):
    """Reads of one table on the pool, outside any transaction: one statement each. With ``guard``, a read for
    a caller (``access``) finds only the rows they may see."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        table: TableSql,
        to_model: Callable[[asyncpg.Record], T],
        order: ListOrder,
        guard: TableAccess | None = None,
    ) -> None:
        self._pool = pool
        self._table = table
        self._model = to_model
        self._order = order
        self._guard = guard

    async def _page(self, where: Where, page: PageRequest, access: Access) -> Page[T]:
        """One keyset page of the rows ``where`` selects that ``access`` sees, in the reader's order."""
        if self._guard is not None:
            self._guard.sees(access, where)
        return await fetch_page(
            self._pool,
            source=self._table.name,
            columns=self._table.columns,
            where=where,
            page=page,
            order=self._order,
            to_model=self._model,
        )


class RecordReader(TableReader[T]):
    """Reads of one table of soft-deletable records."""

    async def get(self, record_id: UUID, access: Access) -> T | None:
        """The live record, if ``access`` sees it."""
        where = Where()
        where.add("id = {}", record_id)
        if self._guard is not None:
            self._guard.sees(access, where)
        row = await self._pool.fetchrow(f"{self._table.select} WHERE {where.sql} AND NOT is_deleted", *where.params)
        return None if row is None else self._model(row)
