"""The analytics' periods and derived figures: each ratio and weighted value is computed here, in one function.

A period is a range of business days ``[from, to)`` in ``CRM_BUSINESS_TIMEZONE``: an instant belongs to it when
its business day does. Months are calendar months of the business time zone too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from crm.domain.errors import FieldProblem, RuleViolation
from crm.domain.money import CENT
from crm.domain.ratios import ratio

LONGEST_PERIOD = timedelta(days=366)
PAST_MONTHS = 6
"""A period looking back (funnel, stage times, performance, income) is by default the current calendar month and
the five before it."""
AHEAD_MONTHS = 6
"""The forecast's default period: the current calendar month and the five after it."""
PERCENT = 100


def month_start(day: date, months: int = 0) -> date:
    """The first day of ``day``'s month, moved by ``months`` calendar months."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """Business days ``[start, end)``."""

    start: date
    end: date

    @classmethod
    def of(cls, start: date | None, end: date | None, *, default_start: date, default_end: date) -> Period:
        """The period asked for; a missing bound defaults to the default period's, or to the other bound moved by
        the default period's length."""
        length = default_end - default_start
        if start is None and end is None:
            start, end = default_start, default_end
        elif start is None:
            assert end is not None
            start = end - length
        elif end is None:
            end = start + length
        if end <= start:
            raise RuleViolation(
                "The period ends before it starts.", errors=[FieldProblem("to", "must be later than `from`")]
            )
        if end - start > LONGEST_PERIOD:
            raise RuleViolation(
                "The period is too long.",
                errors=[FieldProblem("from", f"must be at most {LONGEST_PERIOD.days} days before `to`")],
            )
        return cls(start, end)

    @classmethod
    def looking_back(cls, start: date | None, end: date | None, today: date) -> Period:
        return cls.of(start, end, default_start=month_start(today, 1 - PAST_MONTHS), default_end=month_start(today, 1))

    @classmethod
    def looking_ahead(cls, start: date | None, end: date | None, today: date) -> Period:
        return cls.of(start, end, default_start=month_start(today), default_end=month_start(today, AHEAD_MONTHS))

    def instants(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The period as instants: midnight of ``start`` and of ``end`` in ``zone``."""
        return datetime.combine(self.start, time.min, zone), datetime.combine(self.end, time.min, zone)


def win_rate(won: int, lost: int) -> Decimal | None:
    """Won deals over closed ones (won + lost); ``None`` when none closed."""
    return ratio(won, won + lost)


def conversion(reached: int, reached_next: int) -> Decimal | None:
    """Of the deals that reached a stage, the share that reached the next one; ``None`` when none reached it."""
    return ratio(reached_next, reached)


def weighted_value(value_times_percent: Decimal) -> Decimal:
    """A probability-weighted value from the exact sum of each value times its stage's probability in per cent,
    rounded half up to cents once."""
    return (value_times_percent / PERCENT).quantize(CENT, rounding=ROUND_HALF_UP)


def income_total(premium: Decimal, commission: Decimal, other: Decimal) -> Decimal:
    """Every income of a month (or period) in one currency."""
    return premium + commission + other


def reach(positions: Sequence[int], furthest: Mapping[int, int]) -> dict[int, int]:
    """How many deals reached each of ``positions``: those whose furthest position is it or a later one.

    ``furthest`` counts the deals by the furthest position they entered (a deal that came to a later stage
    passed through the earlier ones in the funnel, even when it skipped them)."""
    return {position: sum(n for at, n in furthest.items() if at >= position) for position in positions}
