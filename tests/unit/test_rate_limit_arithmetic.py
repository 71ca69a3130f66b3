"""The GCRA step every limiter takes, and the in-process limiter's memory bound (a clock of the test's own)."""

from __future__ import annotations

import pytest

from crm.domain.rate_limits import MICROSECONDS, Quota, decide
from crm.infrastructure.rate_limits import LocalRateLimiter

SECOND = MICROSECONDS


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000 * SECOND

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * SECOND)


def burst(limiter: LocalRateLimiter, key: str, count: int) -> list[bool]:
    return [limiter.decide(key).allowed for _ in range(count)]


def test_a_caller_may_use_its_whole_quota_at_once_and_no_more():
    limiter = LocalRateLimiter(Quota(5, 60), clock=Clock())
    assert burst(limiter, "actor:a", 6) == [True] * 5 + [False]


def test_remaining_counts_down_to_zero():
    limiter = LocalRateLimiter(Quota(3, 60), clock=Clock())
    assert [limiter.decide("k").remaining for _ in range(4)] == [2, 1, 0, 0]


def test_a_refusal_says_when_one_more_request_is_allowed():
    clock = Clock()
    limiter = LocalRateLimiter(Quota(3, 60), clock=clock)
    burst(limiter, "k", 3)
    refused = limiter.decide("k")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(20)  # one interval: 60 s / 3
    assert refused.reset_after == pytest.approx(60)
    clock.advance(19.9)
    assert not limiter.decide("k").allowed
    clock.advance(0.1)
    assert limiter.decide("k").allowed


def test_a_refusal_uses_nothing_up():
    clock = Clock()
    limiter = LocalRateLimiter(Quota(2, 10), clock=clock)
    burst(limiter, "k", 2)
    assert burst(limiter, "k", 50) == [False] * 50
    clock.advance(5)
    assert limiter.decide("k").allowed


def test_the_quota_refills_at_the_steady_rate():
    clock = Clock()
    limiter = LocalRateLimiter(Quota(10, 1), clock=clock)
    burst(limiter, "k", 10)
    clock.advance(0.5)
    assert burst(limiter, "k", 6) == [True] * 5 + [False]
    clock.advance(1)
    assert limiter.decide("k").remaining == 9


def test_callers_are_counted_apart():
    limiter = LocalRateLimiter(Quota(1, 60), clock=Clock())
    assert limiter.decide("actor:a").allowed
    assert not limiter.decide("actor:a").allowed
    assert limiter.decide("actor:b").allowed


def test_an_odd_quota_still_fits_its_window_exactly():
    # 7 requests per 60 s: the interval is rounded down so that the seventh is never refused by rounding.
    quota = Quota(7, 60)
    assert quota.capacity <= 60 * SECOND
    assert burst(LocalRateLimiter(quota, clock=Clock()), "k", 8) == [True] * 7 + [False]


def test_the_in_process_limiter_forgets_the_least_recently_seen_caller_beyond_its_bound():
    limiter = LocalRateLimiter(Quota(1, 60), callers=3, clock=Clock())
    for key in ("a", "b", "c"):
        limiter.decide(key)
    assert not limiter.decide("a").allowed  # refused, and so seen again
    limiter.decide("d")  # a fourth caller: "b", the least recently seen, is forgotten
    assert len(limiter) == 3
    assert not limiter.decide("a").allowed
    assert limiter.decide("b").allowed
    assert len(limiter) == 3


def test_a_state_that_has_run_out_is_the_same_as_none():
    quota = Quota(4, 8)
    now = 100 * SECOND
    fresh, _ = decide(quota, None, now)
    expired, _ = decide(quota, now - 1, now)
    assert fresh == expired


@pytest.mark.parametrize(("requests", "window"), [(0, 60), (5, 0), (-1, 1)])
def test_a_quota_needs_a_request_and_a_window(requests, window):
    with pytest.raises(ValueError):
        Quota(requests, window)
