"""Distribution statistics: how the appeals of a period spread over operators and sources, against the shares the
current weights promise, and how long they waited for a first action.

An appeal belongs to the period when it came in within it (``from <= created_at < to``). The database counts
(one pass over the period's range of ``created_at``); this module divides: every ratio is exact, rounded half up
to a fixed number of places once, and served as a decimal string, as money is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.access import require_privileged
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import FieldProblem, RuleViolation, SourceNotFound
from crm.domain.ratios import Seconds, Share, ratio, seconds

DEFAULT_PERIOD = timedelta(days=7)
LONGEST_PERIOD = timedelta(days=366)
EARLIEST = datetime.min.replace(tzinfo=UTC)
STATISTICS = "read distribution statistics"


class FirstAction(BaseModel):
    """Time from an appeal coming in to its first close, conversion or reassignment, over the appeals that had
    one; the figures are null when none had."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(description="Appeals of the period with a first action.")
    avg_seconds: Seconds | None
    p50_seconds: Seconds | None = Field(description="Median, interpolated between the two middle times.")
    p90_seconds: Seconds | None = Field(description="90th percentile, interpolated.")


class OperatorFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    operator_id: UUID
    name: str
    active: bool
    deleted: bool = Field(description="Deleted operators are listed only when they hold appeals of the period.")
    load: int = Field(description="Open appeals they hold now (any period).")
    max_load: int
    at_capacity: bool = Field(description="load >= max_load: they take no new appeal now.")
    appeals: int = Field(description="Appeals of the period assigned to them now.")
    open: int
    closed: int = Field(description="Closed, converted ones included.")
    converted: int
    share: Share | None = Field(description="appeals / assigned appeals of the period; null when none was assigned.")
    expected_share: Share | None = Field(
        description="What the current weights promise them of the period's assigned appeals: the sum over sources "
        "of the source's assigned appeals times their expected share there, divided by all assigned appeals."
    )
    first_action: FirstAction


class SourceOperatorFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    operator_id: UUID
    appeals: int = Field(description="Appeals of the period from this source assigned to them now.")
    share: Share | None = Field(description="appeals / the source's assigned appeals; null when none was assigned.")
    weight: int | None = Field(description="Their current weight on the source; null when they have none.")
    expected_share: Share | None = Field(
        description="weight / the sum of the current weights above 0 of the source's live active operators (0 for "
        "anyone else); null when that sum is 0."
    )


class SourceFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    source_id: UUID
    name: str
    active: bool
    deleted: bool = Field(description="Deleted sources are listed only when appeals of the period came through them.")
    appeals: int
    unassigned: int
    operators: list[SourceOperatorFigures] = Field(
        description="Operators with a weight on the source or with its appeals of the period, in the order of "
        "`operators`."
    )


class DistributionStats(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    period_from: datetime = Field(alias="from", description="Inclusive, in UTC.")
    period_to: datetime = Field(alias="to", description="Exclusive, in UTC.")
    source_id: UUID | None = Field(description="The source the figures are limited to, if any.")
    total: int = Field(description="Appeals that came in within the period.")
    assigned: int = Field(description="Of them, those assigned to an operator now.")
    unassigned: int = Field(description="Of them, those with no operator now (waiting, or closed while waiting).")
    first_action: FirstAction
    operators: list[OperatorFigures] = Field(
        description="Live operators (those with a weight on the source, with `source_id`), and any operator "
        "holding appeals of the period; by name."
    )
    sources: list[SourceFigures] = Field(
        description="Live sources (the one source, with `source_id`), and any source of the period's appeals; by name."
    )


# What the database reports: counts of the period, and the directory as it stands now.


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts of a set of the period's appeals, and the times to their first actions (exact seconds)."""

    appeals: int = 0
    open: int = 0
    closed: int = 0
    converted: int = 0
    first_actions: int = 0
    first_action_avg: Decimal | None = None
    first_action_p50: Decimal | None = None
    first_action_p90: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OperatorNow:
    operator_id: UUID
    name: str
    active: bool
    deleted: bool
    load: int
    max_load: int


@dataclass(frozen=True, slots=True)
class SourceNow:
    source_id: UUID
    name: str
    active: bool
    deleted: bool
    weights: Mapping[UUID, int] = field(default_factory=dict)
    """Every stored weight of the source, by operator (deleted operators' too: they stay stored, hidden)."""


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    total: Tally
    by_operator: Mapping[UUID | None, Tally]
    """``None``: the appeals with no operator."""
    by_source: Mapping[UUID, Tally]
    by_source_operator: Mapping[tuple[UUID, UUID | None], int]
    operators: Sequence[OperatorNow]
    sources: Sequence[SourceNow]


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None, now: datetime) -> Period:
        """``[start, end)``; ``end`` defaults to now, ``start`` to 7 days before ``end``."""
        end = end or now
        if start is None:
            start = end - DEFAULT_PERIOD if end - EARLIEST > DEFAULT_PERIOD else EARLIEST
        if end <= start:
            raise RuleViolation(
                "The period ends before it starts.", errors=[FieldProblem("to", "must be later than `from`")]
            )
        if end - start > LONGEST_PERIOD:
            raise RuleViolation(
                "The period is too long.",
                errors=[FieldProblem("from", f"must be at most {LONGEST_PERIOD.days} days before `to`")],
            )
        return cls(start.astimezone(UTC), end.astimezone(UTC))


class DistributionReader(Protocol):
    async def figures(self, period: Period, source_id: UUID | None) -> PeriodFigures | None:
        """The period's counts (limited to ``source_id``'s appeals if given) and the directory now, read in one
        snapshot; ``None`` when ``source_id`` names no source, live or deleted."""


class DistributionStatsService:
    def __init__(self, reader: DistributionReader, clock: Clock) -> None:
        self._reader = reader
        self._clock = clock

    async def distribution(
        self, caller: Caller, start: datetime | None, end: datetime | None, source_id: UUID | None = None
    ) -> DistributionStats:
        require_privileged(caller, STATISTICS)
        period = Period.of(start, end, self._clock.now())
        figures = await self._reader.figures(period, source_id)
        if figures is None:
            raise SourceNotFound(
                f"Source {source_id} does not exist.", errors=[FieldProblem("source_id", "no such source")]
            )
        return summarize(period, source_id, figures)


def summarize(period: Period, source_id: UUID | None, figures: PeriodFigures) -> DistributionStats:
    unassigned = figures.by_operator.get(None, Tally()).appeals
    assigned = figures.total.appeals - unassigned
    expected = {source.source_id: _expected_shares(source, figures.operators) for source in figures.sources}
    promised = _promised(figures, expected)
    operators = []
    for operator in figures.operators:
        tally = figures.by_operator.get(operator.operator_id, Tally())
        operators.append(
            OperatorFigures(
                operator_id=operator.operator_id,
                name=operator.name,
                active=operator.active,
                deleted=operator.deleted,
                load=operator.load,
                max_load=operator.max_load,
                at_capacity=operator.load >= operator.max_load,
                appeals=tally.appeals,
                open=tally.open,
                closed=tally.closed,
                converted=tally.converted,
                share=ratio(Fraction(tally.appeals), assigned),
                expected_share=ratio(promised.get(operator.operator_id, Fraction(0)), assigned),
                first_action=_first_action(tally),
            )
        )
    return DistributionStats(
        period_from=period.start,
        period_to=period.end,
        source_id=source_id,
        total=figures.total.appeals,
        assigned=assigned,
        unassigned=unassigned,
        first_action=_first_action(figures.total),
        operators=operators,
        sources=[_source(source, figures, expected[source.source_id]) for source in figures.sources],
    )


def _expected_shares(source: SourceNow, operators: Sequence[OperatorNow]) -> dict[UUID, Fraction] | None:
    """Each live active operator's weight over the sum of those weights; ``None`` when the sum is 0."""
    eligible = {operator.operator_id for operator in operators if operator.active and not operator.deleted}
    pool = {operator_id: weight for operator_id, weight in source.weights.items() if operator_id in eligible}
    total = sum(pool.values())
    if total == 0:
        return None
    return {operator_id: Fraction(weight, total) for operator_id, weight in pool.items() if weight > 0}


def _promised(figures: PeriodFigures, expected: Mapping[UUID, dict[UUID, Fraction] | None]) -> dict[UUID, Fraction]:
    """How many of the period's assigned appeals the current weights give each operator, source by source (a
    source nobody may take now promises nobody its appeals)."""
    promised: dict[UUID, Fraction] = {}
    for source in figures.sources:
        shares = expected[source.source_id]
        if shares is None:
            continue
        tally = figures.by_source.get(source.source_id, Tally())
        assigned = tally.appeals - figures.by_source_operator.get((source.source_id, None), 0)
        for operator_id, share in shares.items():
            promised[operator_id] = promised.get(operator_id, Fraction(0)) + assigned * share
    return promised


def _source(source: SourceNow, figures: PeriodFigures, expected: dict[UUID, Fraction] | None) -> SourceFigures:
    tally = figures.by_source.get(source.source_id, Tally())
    unassigned = figures.by_source_operator.get((source.source_id, None), 0)
    assigned = tally.appeals - unassigned
    rows = []
    for operator in figures.operators:
        appeals = figures.by_source_operator.get((source.source_id, operator.operator_id), 0)
        weight = source.weights.get(operator.operator_id)
        if weight is None and appeals == 0:
            continue
        rows.append(
            SourceOperatorFigures(
                operator_id=operator.operator_id,
                appeals=appeals,
                share=ratio(Fraction(appeals), assigned),
                weight=weight,
                expected_share=None if expected is None else ratio(expected.get(operator.operator_id, Fraction(0)), 1),
            )
        )
    return SourceFigures(
        source_id=source.source_id,
        name=source.name,
        active=source.active,
        deleted=source.deleted,
        appeals=tally.appeals,
        unassigned=unassigned,
        operators=rows,
    )


def _first_action(tally: Tally) -> FirstAction:
    return FirstAction(
        count=tally.first_actions,
        avg_seconds=seconds(tally.first_action_avg),
        p50_seconds=seconds(tally.first_action_p50),
        p90_seconds=seconds(tally.first_action_p90),
    )
