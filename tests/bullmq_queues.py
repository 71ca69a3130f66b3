"""A BullMQ queue as the Auth side sees it, for tests; every key of the queue is deleted afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bullmq import Queue
from redis.asyncio import Redis

PREFIX = "bull"


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
