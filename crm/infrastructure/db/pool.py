"""The asyncpg pool every request shares."""

from __future__ import annotations

from typing import Any

import asyncpg


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes plain ``postgresql://`` URLs; accept SQLAlchemy-style driver suffixes too."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class BoundedPool(asyncpg.Pool):
    """asyncpg's pool, whose every acquire waits at most ``acquire_timeout`` seconds: when all connections are
    busy (or the database is away) a request fails fast with ``TimeoutError``, which the API answers as 503
    with ``Retry-After``, instead of queueing for as long as it takes."""

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


async def create_pool(
    url: str,
    *,
    min_size: int,
    max_size: int,
    command_timeout: float,
    acquire_timeout: float = 10.0,
    application_name: str = "crm-api",
) -> asyncpg.Pool:
    # What asyncpg.create_pool does, with the acquire bound added.
    pool = BoundedPool(
        asyncpg_dsn(url),
        min_size=min(min_size, max_size),
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        acquire_timeout=acquire_timeout,
        command_timeout=command_timeout,
        server_settings={"application_name": application_name, "timezone": "UTC"},
    )
    return await pool
