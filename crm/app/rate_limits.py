"""Wiring of the per-caller rate limit: in Redis when ``CRM_REDIS_URL`` is set, else in this process."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from crm.app.config import Settings
from crm.domain.rate_limits import Quota, RateLimiter
from crm.infrastructure.rate_limits import LocalRateLimiter, RedisRateLimiter


def rate_quota(settings: Settings) -> Quota | None:
    """``CRM_RATE_LIMIT_REQUESTS`` per ``CRM_RATE_LIMIT_WINDOW_SECONDS``; ``None`` when the limit is off (0)."""
    if settings.rate_limit_requests == 0:
        return None
    return Quota(settings.rate_limit_requests, settings.rate_limit_window_seconds)


def rate_limiter(settings: Settings) -> RateLimiter | None:
    """The process's limiter, or ``None`` when rate limiting is off. The caller closes it.

    The Redis client connects lazily and gives up quickly: a check that Redis does not answer within
    ``CRM_RATE_LIMIT_REDIS_TIMEOUT`` is decided in this process instead.
    """
    quota = rate_quota(settings)
    if quota is None:
        return None
    local = LocalRateLimiter(quota)
    if not settings.redis_url:
        return local
    timeout = settings.rate_limit_redis_timeout
    redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # Once, at once, on a connection Redis closed meanwhile (a restart): the next one is likely fine.
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
    return RedisRateLimiter(redis, quota, prefix=settings.rate_limit_prefix, timeout=timeout, fallback=local)
