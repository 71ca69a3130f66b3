"""Rate limits: how many requests one caller may make, and the answer to one more.

The arithmetic is GCRA (the generic cell rate algorithm), the one Redis-backed limiters commonly use: a caller's
whole state is one instant, its *theoretical arrival time* (TAT), the moment by which everything it was allowed
so far would have been spent at the steady rate of ``requests`` per ``window``. A request is allowed when pushing
the TAT one interval further keeps it within one window of now, so a caller may burst up to ``requests`` at
once and then goes at the steady rate. A state whose TAT has passed equals no state at all, so it can expire
then: memory (or a Redis key) is held only for callers that used part of their quota recently.

Times are whole microseconds, here and in the Redis script that implements the same step
(``crm.infrastructure.rate_limits``), so that both count alike and ``requests`` requests always fit a window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

MICROSECONDS = 1_000_000


@dataclass(frozen=True, slots=True)
class Quota:
    """``requests`` per ``window`` seconds, for each caller.

    ``interval``: microseconds one request uses up at the steady rate (at least one); ``capacity``: microseconds
    of the whole quota, how far ahead of now a caller's TAT may run. Both are worked out once: they are read on
    every request.
    """

    requests: int
    window: float
    interval: int = field(init=False, repr=False)
    capacity: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.requests < 1 or self.window <= 0:
            raise ValueError("a quota needs at least one request in a positive window")
        interval = max(1, int(self.window * MICROSECONDS) // self.requests)
        object.__setattr__(self, "interval", interval)
        object.__setattr__(self, "capacity", interval * self.requests)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The answer for one request: allowed or not, and what the caller has left (the RateLimit-* headers)."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the whole quota is available again
    retry_after: float  # seconds until one more request would be allowed; 0 when this one was


def decide(quota: Quota, tat: int | None, now: int) -> tuple[RateDecision, int | None]:
    """One more request at ``now`` from a caller whose stored TAT is ``tat`` (``None``: no state): the decision,
    and the TAT to store (``None`` when refused: a refusal uses nothing up)."""
    start = now if tat is None or tat < now else tat
    new_tat = start + quota.interval
    over = new_tat - now - quota.capacity
    if over > 0:
        return RateDecision(False, quota.requests, 0, (start - now) / MICROSECONDS, over / MICROSECONDS), None
    remaining = (quota.capacity - (new_tat - now)) // quota.interval
    return RateDecision(True, quota.requests, remaining, (new_tat - now) / MICROSECONDS, 0.0), new_tat


class RateLimiter(Protocol):
    async def hit(self, key: str) -> RateDecision:
        """Counts one request of the caller ``key`` and says whether it is allowed. Never raises for a store
        that is away: a limiter that cannot reach its store decides on its own."""

    async def close(self) -> None:
        """Releases the limiter's connections."""
