"""The asyncpg pool every request shares."""

from __future__ import annotations

import asyncpg


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes plain ``postgresql://`` URLs; accept SQLAlchemy-style driver suffixes too."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


async def create_pool(
    url: str, *, min_size: int, max_size: int, command_timeout: float, application_name: str = "crm-api"
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min(min_size, max_size),
        max_size=max_size,
        command_timeout=command_timeout,
        server_settings={"application_name": application_name, "timezone": "UTC"},
    )
    assert pool is not None
    return pool
