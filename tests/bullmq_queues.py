"""A BullMQ queue as the Auth side sees it, for tests (every key of it deleted afterwards); a Redis URL that refuses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bullmq import Queue
from redis.asyncio import Redis

PREFIX = "bull"
# Nothing listens on port 1: connections are refused at once (a permissions queue whose Redis is away).
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


@contextlib.asynccontextmanager
async def bullmq_queue_of(redis_url: str, name: str, prefix: str = PREFIX) -> AsyncIterator[Queue]:
    queue = Queue(name, {"prefix": prefix, "connection": redis_url})
    try:
        yield queue
    finally:
        await queue.close()
        redis = Redis.from_url(redis_url)
        try:
            keys = [key async for key in redis.scan_iter(match=f"{prefix}:{name}:*")]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()
