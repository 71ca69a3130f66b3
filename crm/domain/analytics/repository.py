"""What the analytics read from storage: counts, sums and percentiles, exact, over the deals in scope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.pipelines.rules import StageKind


@dataclass(frozen=True, slots=True)
class Scope:
    """The deals a figure counts: live ones the caller may see (``access``, the deal list's rule), of one
    pipeline and one owner when given."""

    access: Access
    pipeline_id: UUID | None = None
    owner_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Instants:
    """A period of business days as instants: midnight of its first day, midnight after its last."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class CohortCount:
    """Deals of a funnel's cohort by the furthest funnel position they entered (``None``: none) and the kind of
    the stage they stand in now."""

    furthest: int | None
    stage_id: UUID
    deals: int


@dataclass(frozen=True, slots=True)
class DurationFigures:
    """How many durations, and their median and 90th percentile in exact seconds (``None`` when none)."""

    count: int = 0
    median: Decimal | None = None
    p90: Decimal | None = None


@dataclass(frozen=True, slots=True)
class StageTimeFigures:
    by_stage: Mapping[UUID, DurationFigures]
    """Time in stage, by the stage left."""
    cycle: Mapping[StageKind | None, DurationFigures]
    """Cycle time by the kind of stage the deal closed in (won, lost); ``None``: all closed deals."""


@dataclass(frozen=True, slots=True)
class ForecastCell:
    """Open deals whose expected closing falls in ``month``, and their value in ``currency``."""

    month: date
    currency: str
    deals: int
    value: Decimal
    value_times_percent: Decimal
    """The exact sum of each deal's value times its stage's probability (per cent)."""


@dataclass(frozen=True, slots=True)
class ForecastFigures:
    cells: Sequence[ForecastCell]
    open_deals: int
    without_value: int


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Closed deals counted by who (an owner, an insurer) and how they ended, and their values by currency."""

    counts: Mapping[tuple[UUID | str | None, bool], int] = field(default_factory=dict)
    """(key, won) -> deals."""
    values: Mapping[tuple[UUID | str | None, bool, str], Decimal] = field(default_factory=dict)
    """(key, won, currency) -> value."""


@dataclass(frozen=True, slots=True)
class PerformanceFigures:
    owners: Outcomes
    insurers: Outcomes
    """For an insurer, ``won`` means its calculation became a live policy of the won deal."""


@dataclass(frozen=True, slots=True)
class IncomeCell:
    month: date
    currency: str
    premium: Decimal
    commission: Decimal
    other: Decimal


@dataclass(frozen=True, slots=True)
class OverdueCell:
    currency: str
    instalments: int
    outstanding: Decimal
    oldest_planned_date: date


@dataclass(frozen=True, slots=True)
class IncomeFigures:
    months: Sequence[IncomeCell]
    overdue: Sequence[OverdueCell]


class AnalyticsReader(Protocol):
    async def funnel(self, scope: Scope, period: Instants) -> list[CohortCount]:
        """The live deals of ``scope.pipeline_id`` created within ``period``, by the furthest position among the
        pipeline's live open and won stages their history entered, and the stage they stand in now."""

    async def stage_times(self, scope: Scope, period: Instants) -> StageTimeFigures:
        """Time in stage of the stays in ``scope.pipeline_id``'s stages that ended within ``period`` (the history
        row leaving the stage), and the cycle time of the deals closed within it (created to ``closed_at``)."""

    async def forecast(self, scope: Scope, start: date, end: date) -> ForecastFigures:
        """The open deals in scope: their planned payments by currency, in the month of their first planned
        payment when that month lies within ``[start, end)``."""

    async def performance(self, scope: Scope, period: Instants) -> PerformanceFigures:
        """The deals in scope closed within ``period`` and standing in a won or lost stage: by owner, by insurer."""

    async def income(self, scope: Scope, start: date, end: date, today: date) -> IncomeFigures:
        """Incomes posted within ``[start, end)`` by month, currency and category; overdue instalments on
        ``today``; both of the deals in scope."""
