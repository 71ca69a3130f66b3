"""The rate limit while its Redis (a ``redis-server`` of the test's own) is killed or frozen: every request is still
answered, at once, counted in each process on its own; once Redis is back the processes share the count again."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from crm.app.config import Settings
from tests.apps import running_app
from tests.auth import bearer
from tests.faults.servers import OwnRedis, within

pytestmark = pytest.mark.faults

QUOTA = 5
TIMEOUT = 0.1  # CRM_RATE_LIMIT_REDIS_TIMEOUT
ANSWER_BOUND = 1.0  # seconds any request may take while Redis is away (its timeout is a tenth of that)
RECOVERY_BOUND = 5.0  # seconds from Redis's return until the count is shared again


def actor() -> dict[str, str]:
    """A caller of their own: an admin's token for a new subject."""
    return bearer(uuid.uuid4(), "admin")


@contextlib.asynccontextmanager
async def two_processes(settings: Settings, redis_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """Two apps, as two crm-api processes, counting in the same Redis."""
    counted = settings.model_copy(
        update={
            "redis_url": redis_url,
            "rate_limit_requests": QUOTA,
            "rate_limit_window_seconds": 60.0,
            "rate_limit_redis_timeout": TIMEOUT,
        }
    )
    async with running_app(counted) as (_, first), running_app(counted) as (_, second):
        yield first, second


class Answers:
    """Statuses and the slowest answer of the requests made through it."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.slowest = 0.0

    async def get(self, api: httpx.AsyncClient, caller: dict[str, str]) -> int:
        started = time.monotonic()
        response = await api.get("/api/v1/deals", headers=caller)
        self.slowest = max(self.slowest, time.monotonic() - started)
        self.statuses[response.status_code] += 1
        return response.status_code


async def shared_count(first: httpx.AsyncClient, second: httpx.AsyncClient, answers: Answers) -> list[int]:
    """A new caller's quota spent across both processes, and one more: [200] * QUOTA + [429] when shared."""
    caller = actor()
    return [await answers.get((first, second)[n % 2], caller) for n in range(QUOTA + 1)]


async def shared(first: httpx.AsyncClient, second: httpx.AsyncClient, answers: Answers) -> bool:
    return await shared_count(first, second, answers) == [200] * QUOTA + [429]


async def keys_of(redis_url: str) -> int:
    redis = Redis.from_url(redis_url)
    try:
        return len([key async for key in redis.scan_iter(match="crm:rate-limit:*")])
    finally:
        await redis.aclose()


async def test_a_killed_redis_fails_no_request_and_the_shared_count_resumes_when_it_is_back(
    settings, db, tmp_path, report
):
    redis = OwnRedis(tmp_path / "redis")
    answers = Answers()
    try:
        await redis.start()
        async with two_processes(settings, redis.url) as (first, second):
            assert await shared_count(first, second, answers) == [200] * QUOTA + [429]

            with capture_logs() as logs:
                redis.kill()
                away = Answers()
                caller = actor()
                # Each process counts on its own: the caller gets the quota from each.
                alone = [await away.get(first, caller) for _ in range(QUOTA + 1)]
                alone += [await away.get(second, caller) for _ in range(QUOTA + 1)]
            assert alone == ([200] * QUOTA + [429]) * 2
            assert away.slowest < ANSWER_BOUND, away.slowest
            warnings = [e for e in logs if e["event"].startswith("rate limits counted in this process")]
            assert len(warnings) == 2  # once per process, not once per request

            await redis.start()
            back_at = time.monotonic()
            recovered = await within(
                lambda: shared(first, second, answers),
                RECOVERY_BOUND,
                "both processes counting in Redis again",
                every=0.2,
            )
            assert await keys_of(redis.url) > 0
    finally:
        redis.close()
    report(
        "rate-limit-redis-killed",
        statuses=dict(answers.statuses),
        away_statuses=dict(away.statuses),
        slowest_while_away_ms=round(away.slowest * 1000, 1),
        shared_again_after_s=round(time.monotonic() - back_at, 2),
        recovered_in_s=round(recovered, 2),
    )
    assert set(away.statuses) <= {200, 429}


async def test_a_frozen_redis_makes_no_request_wait_longer_than_the_timeout(settings, db, tmp_path, report):
    redis = OwnRedis(tmp_path / "redis")
    frozen = False
    try:
        await redis.start()
        async with two_processes(settings, redis.url) as (first, second):
            assert await shared_count(first, second, Answers()) == [200] * QUOTA + [429]
            # SIGSTOP: the port still takes connections (the kernel does), but nothing answers.
            os.kill(redis.process.pid, signal.SIGSTOP)
            frozen = True
            away = Answers()
            started = time.monotonic()
            while time.monotonic() - started < 2.5:  # past the retry pause: a probe meets the frozen Redis too
                await away.get(first, actor())
            assert set(away.statuses) == {200}
            assert away.slowest < ANSWER_BOUND, away.slowest

            os.kill(redis.process.pid, signal.SIGCONT)
            frozen = False
            recovered = await within(
                lambda: shared(first, second, Answers()),
                RECOVERY_BOUND,
                "both processes counting in Redis again",
                every=0.2,
            )
    finally:
        if frozen:
            os.kill(redis.process.pid, signal.SIGCONT)
        redis.close()
    report(
        "rate-limit-redis-frozen",
        requests_while_frozen=sum(away.statuses.values()),
        slowest_while_frozen_ms=round(away.slowest * 1000, 1),
        recovered_in_s=round(recovered, 2),
    )
