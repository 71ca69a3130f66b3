"""The Redis limiter's Lua script takes the same GCRA step as the in-process limiter, on Redis's clock, with keys
that are namespaced and expire. (A Redis that lost the script, restarted, is tests/faults' business.)"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from crm.app.config import Settings
from crm.app.rate_limits import rate_limiter
from crm.domain.rate_limits import Quota
from crm.infrastructure.rate_limits import LocalRateLimiter, RedisRateLimiter


def redis_settings(cache_url: str, prefix: str, requests: int, window: float) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        redis_url=cache_url,
        rate_limit_prefix=prefix,
        rate_limit_requests=requests,
        rate_limit_window_seconds=window,
    )


async def test_redis_and_the_process_decide_a_burst_alike(cache_url, run_id):
    prefix = f"crm:rate-limit:test-lua:{run_id}"
    limiter = rate_limiter(redis_settings(cache_url, prefix, 4, 60))
    assert isinstance(limiter, RedisRateLimiter)
    local = LocalRateLimiter(Quota(4, 60))
    try:
        in_redis = [await limiter.hit("actor:same") for _ in range(6)]
        in_process = [await local.hit("actor:same") for _ in range(6)]
    finally:
        await limiter.close()
    assert not limiter.degraded
    counted = [(d.allowed, d.remaining) for d in in_redis]
    assert counted == [(d.allowed, d.remaining) for d in in_process]
    assert counted == [(True, 3), (True, 2), (True, 1), (True, 0), (False, 0), (False, 0)]
    refused = in_redis[-1]
    assert 14.9 < refused.retry_after <= 15  # one interval: 60 s / 4
    assert 59.9 < refused.reset_after <= 60


async def test_a_callers_key_is_namespaced_and_expires_with_its_state(cache_url, run_id):
    prefix = f"crm:rate-limit:test-keys:{run_id}"
    limiter = rate_limiter(redis_settings(cache_url, prefix, 10, 20))
    assert limiter is not None
    redis = Redis.from_url(cache_url)
    caller = f"actor:{uuid.uuid4()}"
    try:
        await limiter.hit(caller)
        await limiter.hit(caller)
        keys = [key.decode() async for key in redis.scan_iter(match=f"{prefix}:*")]
        assert keys == [f"{prefix}:{caller}"]
        # Two requests of 2 s each are spent: the state is worth keeping for 4 s, no longer.
        assert 3_900 < await redis.pttl(keys[0]) <= 4_000
    finally:
        await redis.delete(*[key async for key in redis.scan_iter(match=f"{prefix}:*")])
        await redis.aclose()
        await limiter.close()
