"""Retention of the outbox: published events are kept for a while (SSE clients resume from them), then go."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

PRUNE_BATCH_SIZE = 5_000

# Only published rows, oldest first; each statement deletes one batch, so no transaction holds many row
# locks or makes one large WAL burst. Rows another pruner holds are skipped, not waited for.
DELETE_PUBLISHED_BATCH = """
DELETE FROM crm.outbox
WHERE id IN (
    SELECT id FROM crm.outbox
    WHERE published_at < now() - $1::interval
    ORDER BY id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
"""


async def prune_published_outbox(
    pool: asyncpg.Pool, retention: timedelta, *, batch_size: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete events published longer than ``retention`` ago, batch after batch; returns how many went.

    Unpublished rows are never touched, however old: they are still to be delivered.
    """
    deleted = 0
    while True:
        status = await pool.execute(DELETE_PUBLISHED_BATCH, retention, batch_size)
        batch = int(status.split()[-1])
        deleted += batch
        if batch < batch_size:
            return deleted
