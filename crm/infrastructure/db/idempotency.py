"""Idempotency-Key storage: the claim commits with the change; the response is stored right after."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg

from crm.domain.idempotency import IdempotencyClaim, StoredRequest
from crm.infrastructure.db.sql import Connection


async def claim(connection: Connection, request: IdempotencyClaim) -> None:
    """Part of the change's transaction: a concurrent twin that commits first makes this one fail."""
    await connection.execute(
        "INSERT INTO crm.idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)",
        request.scope,
        request.key,
        request.request_hash,
    )


class IdempotencyStore:
    def __init__(self, pool: asyncpg.Pool, ttl: timedelta) -> None:
        self._pool = pool
        self._ttl = ttl

    async def find(self, scope: str, key: str) -> StoredRequest | None:
        row = await self._pool.fetchrow(
            "SELECT request_hash, response_status, response_headers, response_body "
            "FROM crm.idempotency_keys WHERE scope = $1 AND key = $2 AND created_at > now() - $3::interval",
            scope,
            key,
            self._ttl,
        )
        if row is None:
            return None
        headers = json.loads(row["response_headers"]) if row["response_headers"] else None
        return StoredRequest(row["request_hash"], row["response_status"], headers, row["response_body"])

    async def save_response(self, scope: str, key: str, status: int, headers: dict[str, str], body: bytes) -> None:
        await self._pool.execute(
            "UPDATE crm.idempotency_keys SET response_status = $3, response_headers = $4::jsonb, "
            "response_body = $5 WHERE scope = $1 AND key = $2",
            scope,
            key,
            status,
            json.dumps(headers),
            body,
        )

    async def forget_expired(self) -> int:
        """Drop keys older than the retention; returns how many went."""
        result = await self._pool.execute(
            "DELETE FROM crm.idempotency_keys WHERE created_at <= now() - $1::interval", self._ttl
        )
        return int(result.split()[-1])
