"""The BullMQ queue the Auth side consumes permission sync jobs from, through the official Python port."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from bullmq import Queue  # type: ignore[import-untyped]
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from crm.domain.permissions.errors import QueueUnavailable
from crm.domain.permissions.schemas import PermissionSyncJob

log = structlog.get_logger(__name__)

# A standard BullMQ worker retries a failing job 5 times, waiting 1 s, 2 s, 4 s, 8 s between attempts.
JOB_OPTIONS: dict[str, Any] = {"attempts": 5, "backoff": {"type": "exponential", "delay": 1000}}

NOT_CONFIGURED = (
    "No Redis is configured for the permission queue: set CRM_PERMISSIONS_REDIS_URL (or CRM_REDIS_URL) "
    "and restart crm-api."
)


def job_data(job: PermissionSyncJob) -> dict[str, Any]:
    """The payload the old service sent, camelCase, which the Auth worker reads."""
    return {
        "ownerType": job.owner_type.value,
        "ownerId": str(job.owner_id),
        "users": [{"userId": str(user.user_id), "role": user.role.value} for user in job.users],
    }


class BullMqPermissionQueue:
    """One per process, made in the lifespan; ``close`` closes its Redis connections."""

    def __init__(self, redis_url: str, *, prefix: str, queue_name: str, job_name: str, timeout: float) -> None:
        # BullMQ's own client retries a refused connection for minutes; a request must answer in ``timeout``.
        client = Redis.from_url(
            redis_url,
            decode_responses=True,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._queue = Queue(queue_name, {"prefix": prefix, "connection": client})
        self._job_name = job_name
        self._timeout = timeout

    def require_configured(self) -> None:
        return None

    async def enqueue(self, job: PermissionSyncJob) -> None:
        options = {**JOB_OPTIONS, "jobId": str(job.job_id)}
        try:
            async with asyncio.timeout(self._timeout):
                await self._queue.add(self._job_name, job_data(job), options)
        except (RedisError, OSError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, TimeoutError):
                reason = f"Redis did not answer within {self._timeout:g} s"
            log.warning("permission job not queued", job_id=str(job.job_id), error=reason)
            raise QueueUnavailable(reason) from exc

    async def close(self) -> None:
        # The queue owns the client: closing the queue closes the connection pool.
        await self._queue.close()


class UnconfiguredPermissionQueue:
    """Stands in while no Redis URL is set: every sync is refused with a 503 naming the setting."""

    def require_configured(self) -> None:
        raise QueueUnavailable(NOT_CONFIGURED)

    async def enqueue(self, job: PermissionSyncJob) -> None:
        raise QueueUnavailable(NOT_CONFIGURED)
