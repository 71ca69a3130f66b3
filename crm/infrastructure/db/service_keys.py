"""Secrets the service makes for itself, kept in ``crm.service_keys`` so every process uses the same one."""

from __future__ import annotations

import secrets

import asyncpg

CURSOR_KEY = "cursor"

# A concurrent first start inserts once; whoever loses the race reads the winner's key.
INSERT = "INSERT INTO crm.service_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
SELECT = "SELECT key FROM crm.service_keys WHERE name = $1"


async def shared_key(pool: asyncpg.Pool, name: str) -> bytes:
    """The key called ``name``: made (32 random bytes) by the first process that asks, read by the others."""
    async with pool.acquire() as connection:
        await connection.execute(INSERT, name, secrets.token_bytes(32))
        key: bytes = await connection.fetchval(SELECT, name)
    return key
