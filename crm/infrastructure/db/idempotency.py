"""Idempotency-Key storage: the key and its answer commit with the change they answer for."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg

from crm.domain.idempotency import IdempotentRequest, StoredAnswer, StoredRequest
from crm.infrastructure.db.sql import Connection

INSERT = """
INSERT INTO crm.idempotency_keys (scope, key, request_hash, response_status, response_headers, response_body)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
"""
FIND = """
SELECT request_hash, response_status, response_headers, response_body FROM crm.idempotency_keys
WHERE scope = $1 AND key = $2 AND created_at > now() - $3::interval
"""


async def store_answer(connection: Connection, request: IdempotentRequest, answer: StoredAnswer) -> None:
    """Part of the change's transaction: a concurrent twin that commits first makes this one fail
    (``pk_idempotency_keys``), and the loser's change rolls back with it."""
    await connection.execute(
        INSERT,
        request.scope,
        request.key,
        request.request_hash,
        answer.status,
        json.dumps(dict(answer.headers)),
        answer.body,
    )


async def forget(connection: Connection, request: IdempotentRequest) -> None:
    """Drop the key again, so a retry of a request that failed after its change committed runs anew."""
    await connection.execute(
        "DELETE FROM crm.idempotency_keys WHERE scope = $1 AND key = $2", request.scope, request.key
    )


class PgIdempotencyStore:
    def __init__(self, pool: asyncpg.Pool, ttl: timedelta) -> None:
        self._pool = pool
        self._ttl = ttl

    async def find(self, scope: str, key: str) -> StoredRequest | None:
        row = await self._pool.fetchrow(FIND, scope, key, self._ttl)
        if row is None:
            return None
        answer = None
        if row["response_status"] is not None:
            headers = json.loads(row["response_headers"]) if row["response_headers"] else {}
            answer = StoredAnswer(row["response_status"], headers, row["response_body"])
        return StoredRequest(row["request_hash"], answer)

    async def forget_expired(self) -> int:
        """Drop keys older than the retention; returns how many went."""
        result = await self._pool.execute(
            "DELETE FROM crm.idempotency_keys WHERE created_at <= now() - $1::interval", self._ttl
        )
        return int(result.split()[-1])
