"""Retention of the outbox: published events are kept for a while (SSE clients resume from them), then go.

Published is what the relay's cursor has passed: rows above it are never deleted, however old."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from crm.infrastructure.db.outbox import CURSOR

PRUNE_BATCH_SIZE = 5_000

# The oldest published rows by sequence, one batch per statement, so no transaction holds many row locks or
# makes one large WAL burst; of those, the ones older than the retention go. A batch in which some are too
# young ends the pruning (the next run goes on). Rows another pruner holds are skipped, not waited for.
DELETE_PUBLISHED_BATCH = f"""
WITH oldest AS (
    SELECT id, created_at FROM crm.outbox
    WHERE sequence <= coalesce({CURSOR}, 0)
    ORDER BY sequence
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM crm.outbox AS o USING oldest
WHERE o.id = oldest.id AND oldest.created_at < now() - $1::interval
"""


async def prune_published_outbox(
    pool: asyncpg.Pool, retention: timedelta, *, batch_size: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete published events written longer than ``retention`` ago, batch after batch; returns how many went.

    Unpublished rows (above the relay's cursor) are never touched, however old: they are still to be delivered.
    """
    deleted = 0
    while True:
        status = await pool.execute(DELETE_PUBLISHED_BATCH, retention, batch_size)
        batch = int(status.split()[-1])
        deleted += batch
        if batch < batch_size:
            return deleted
