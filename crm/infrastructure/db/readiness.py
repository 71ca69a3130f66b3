"""Readiness: can we reach the database, and is it at the migration head this code expects?"""

from __future__ import annotations

import asyncio

import asyncpg

from crm.infrastructure.db.migrations import current_revision


class DatabaseReadiness:
    def __init__(self, pool: asyncpg.Pool, head: str | None, timeout: float = 2.0) -> None:
        self._pool = pool
        self._head = head
        self._timeout = timeout

    async def check(self) -> dict[str, dict[str, object]]:
        try:
            async with asyncio.timeout(self._timeout), self._pool.acquire() as connection:
                revision = await current_revision(connection)
        except Exception as exc:
            # Whatever kept us from looking (asyncpg's InternalClientError included) is "not ready", not a 500.
            return {"database": {"ok": False, "error": type(exc).__name__}}
        migrated = revision == self._head
        return {"database": {"ok": migrated, "revision": revision, "head": self._head}}
