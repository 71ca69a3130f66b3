"""User contacts in PostgreSQL, through asyncpg."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

import asyncpg

from crm.domain.users.schemas import UserContacts
from crm.infrastructure.db.models import UserContactRow
from crm.infrastructure.db.sql import Connection, required
from crm.infrastructure.db.tables import TableSql

CONTACTS = TableSql(UserContactRow)
FIELDS = ("telegram_id", "preferred_channel", "locale")
# One statement for the first PUT and every later one: two first PUTs racing end as an insert and a replace.
# xmax is 0 on a freshly inserted row version, and not on one an update wrote.
PUT = f"""
INSERT INTO {CONTACTS.name} AS c (user_id, {", ".join(FIELDS)}, updated_by_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (user_id) DO UPDATE
SET {", ".join(f"{name} = EXCLUDED.{name}" for name in FIELDS)},
    version = c.version + 1, updated_at = now(), updated_by_id = EXCLUDED.updated_by_id
RETURNING {CONTACTS.columns}, (xmax = 0) AS inserted
"""


def _contacts(row: asyncpg.Record) -> UserContacts:
    return UserContacts.model_validate({name: row[name] for name in CONTACTS.column_names})


class PgUserContactRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    async def get_for_update(self, user_id: UUID) -> UserContacts | None:
        row = await self._conn.fetchrow(f"{CONTACTS.select} WHERE user_id = $1 FOR UPDATE", user_id)
        return None if row is None else _contacts(row)

    async def put(self, user_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> tuple[UserContacts, bool]:
        row = required(await self._conn.fetchrow(PUT, user_id, *(values[name] for name in FIELDS), actor_id))
        return _contacts(row), bool(row["inserted"])

    async def of_users(self, user_ids: Collection[UUID]) -> dict[UUID, UserContacts]:
        if not user_ids:
            return {}
        rows = await self._conn.fetch(f"{CONTACTS.select} WHERE user_id = ANY($1::uuid[])", list(set(user_ids)))
        return {row["user_id"]: _contacts(row) for row in rows}


class PgUserContactReader:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, user_id: UUID) -> UserContacts | None:
        row = await self._pool.fetchrow(f"{CONTACTS.select} WHERE user_id = $1", user_id)
        return None if row is None else _contacts(row)
