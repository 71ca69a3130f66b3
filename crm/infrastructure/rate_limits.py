"""Rate limiters: the quota counted in this process, or in Redis for every crm-api process at once.

Both take the same GCRA step (``crm.domain.rate_limits.decide``). The Redis one is a Lua script, so a request
costs one atomic round trip; when Redis is away or slow it counts in this process instead (each process then
allows the quota on its own) and tries Redis again a moment later: a limiter never fails a request, and never
waits on Redis for longer than its timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from crm.domain.rate_limits import MICROSECONDS, Quota, RateDecision, decide

log = structlog.get_logger(__name__)

# Callers remembered by the in-process limiter; past that the least recently seen is forgotten (and so gets a
# fresh quota). About 100 bytes each: a few megabytes at most, whatever the number of client addresses.
LOCAL_CALLERS = 50_000
# Seconds the Redis limiter counts in-process after Redis failed, before one request tries Redis again.
REDIS_RETRY_AFTER = 1.0

# The GCRA step of crm.domain.rate_limits.decide, on Redis's clock (one clock for every crm-api process).
# KEYS[1]: the caller's key; ARGV[1]: interval, ARGV[2]: capacity, both in microseconds.
# Returns {allowed (1 or 0), remaining, reset_after µs, retry_after µs}. The key expires when its TAT passes.
# Numbers are written with %d: Lua's tostring would round a 16-digit microsecond count to 14 digits.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local over = new_tat - now - capacity
if over > 0 then
  return {0, 0, tat - now, over}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((capacity - (new_tat - now)) / interval), new_tat - now, 0}
"""


def _monotonic_us() -> int:
    return time.monotonic_ns() // 1000


class LocalRateLimiter:
    """The quota counted in this process, for at most ``callers`` callers at a time (least recently seen
    forgotten first)."""

    def __init__(self, quota: Quota, *, callers: int = LOCAL_CALLERS, clock: Callable[[], int] = _monotonic_us) -> None:
        self.quota = quota
        self._callers = callers
        self._clock = clock
        self._tats: OrderedDict[str, int] = OrderedDict()

    def decide(self, key: str) -> RateDecision:
        tat = self._tats.get(key)
        decision, new_tat = decide(self.quota, tat, self._clock())
        if new_tat is not None:
            self._tats[key] = new_tat
        if tat is not None or new_tat is not None:
            # A caller refused again and again is the last one to forget.
            self._tats.move_to_end(key)
            if len(self._tats) > self._callers:
                self._tats.popitem(last=False)
        return decision

    def __len__(self) -> int:
        """Callers remembered."""
        return len(self._tats)

    async def hit(self, key: str) -> RateDecision:
        return self.decide(key)

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    """The quota kept in Redis under ``<prefix>:<caller>``, shared by every process using the same Redis.

    Any failure of Redis (refused, lost, slower than ``timeout``) sends this request and those of the next
    ``retry_after`` seconds to ``fallback``; then one request at a time tries Redis again, and the first that
    succeeds brings every request back to Redis. The switch each way is logged once.
    """

    def __init__(
        self,
        redis: Redis,
        quota: Quota,
        *,
        prefix: str,
        timeout: float,
        fallback: LocalRateLimiter,
        retry_after: float = REDIS_RETRY_AFTER,
    ) -> None:
        self.quota = quota
        self._redis = redis
        self._sha = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()
        self._prefix = prefix
        self._timeout = timeout
        self._fallback = fallback
        self._retry_after = retry_after
        self._interval, self._capacity = quota.interval, quota.capacity
        self._away_until: float | None = None  # set while Redis is away: when to try it again
        self._away_since = 0.0
        self._probing = False
        self._queued: list[tuple[str, asyncio.Future[list[int]]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def hit(self, key: str) -> RateDecision:
        probe = False
        if self._away_until is not None:
            if self._probing or time.monotonic() < self._away_until:
                return self._fallback.decide(key)
            self._probing = probe = True
        try:
            async with asyncio.timeout(self._timeout):
                allowed, remaining, reset_after, retry_after = await self._counted(f"{self._prefix}:{key}")
        except Exception as exc:  # whatever Redis does, the request is decided here and answered
            self._lost(exc)
            return self._fallback.decide(key)
        finally:
            if probe:
                self._probing = False
        if self._away_until is not None:
            self._back()
        return RateDecision(
            bool(allowed),
            self.quota.requests,
            int(remaining),
            int(reset_after) / MICROSECONDS,
            int(retry_after) / MICROSECONDS,
        )

    def _counted(self, key: str) -> asyncio.Future[list[int]]:
        """The script's reply for ``key``, sent with every other check asked for in the same turn of the event
        loop: one pipeline, so one write and one read for all of them instead of one each (under load most of
        what a check costs this process is those two system calls and redis-py's work around them)."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[list[int]] = loop.create_future()
        self._queued.append((key, reply))
        if len(self._queued) == 1:
            loop.call_soon(self._send_queued)
        return reply

    def _send_queued(self) -> None:
        batch, self._queued = self._queued, []
        task = asyncio.create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[str, asyncio.Future[list[int]]]]) -> None:
        try:
            try:
                replies = await self._pipeline([key for key, _ in batch])
            except NoScriptError:  # a Redis that was restarted or flushed: load the script once more
                await self._redis.script_load(GCRA_SCRIPT)
                replies = await self._pipeline([key for key, _ in batch])
        except Exception as exc:  # every check of the batch is decided by the fallback
            for _, reply in batch:
                if not reply.done():
                    reply.set_exception(exc)
            return
        for (_, reply), result in zip(batch, replies, strict=True):
            if not reply.done():  # a check that timed out has been decided already
                reply.set_result(result)

    async def _pipeline(self, keys: list[str]) -> list[list[int]]:
        pipeline = self._redis.pipeline(transaction=False)
        for key in keys:
            pipeline.evalsha(self._sha, 1, key, self._interval, self._capacity)
        return cast(list[list[int]], await pipeline.execute())

    def _lost(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._away_until is None:
            self._away_since = now
            reason = f"no answer within {self._timeout:g} s" if isinstance(exc, TimeoutError) else repr(exc)
            log.warning("rate limits counted in this process: Redis is away", error=reason)
        self._away_until = now + self._retry_after

    def _back(self) -> None:
        log.info("rate limits counted in Redis again", away_for=round(time.monotonic() - self._away_since, 1))
        self._away_until = None

    @property
    def degraded(self) -> bool:
        """Counting in this process because Redis was lost."""
        return self._away_until is not None

    async def close(self) -> None:
        for task in self._sending:
            task.cancel()
        await self._redis.aclose()
