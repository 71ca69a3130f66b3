"""The analytics use cases: check the filters, find the pipeline, let storage count, then divide and round here.

Every figure counts only live deals the caller may see (admins and managers: all), through the deal list's access
rule; what hangs off a deal (history, policies, payments, incomes, calculations) counts through its deal.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from uuid import UUID

from crm.domain.access import Access
from crm.domain.analytics.repository import (
    AnalyticsReader,
    DurationFigures,
    Instants,
    Outcomes,
    Scope,
)
from crm.domain.analytics.rules import Period, conversion, income_total, reach, weighted_value, win_rate
from crm.domain.analytics.schemas import (
    AnalyticsFilter,
    CycleTimes,
    Durations,
    Forecast,
    ForecastMonth,
    ForecastTotal,
    Funnel,
    FunnelStage,
    Income,
    IncomeMonth,
    IncomeTotal,
    InsurerPerformance,
    MoneyTotal,
    Overdue,
    OverdueTotal,
    OwnerPerformance,
    Performance,
    StageTime,
    StageTimes,
)
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import FieldProblem, PipelineNotFound
from crm.domain.pipelines.repository import PipelineReader
from crm.domain.pipelines.rules import StageKind
from crm.domain.pipelines.schemas import Pipeline, Stage
from crm.domain.ratios import seconds

ZERO = Decimal("0.00")


class AnalyticsService:
    def __init__(self, reader: AnalyticsReader, pipelines: PipelineReader, clock: Clock) -> None:
        self._reader = reader
        self._pipelines = pipelines
        self._clock = clock

    async def funnel(self, query: AnalyticsFilter, caller: Caller) -> Funnel:
        """Deals created in the period, by how far along the pipeline (the default one unless named) they came."""
        period = Period.looking_back(query.start, query.end, self._clock.today())
        pipeline = await self._pipeline(query.pipeline_id, default=True)
        assert pipeline is not None
        counts = await self._reader.funnel(self._scope(query, caller, pipeline), self._instants(period))
        kinds = {stage.id: stage.kind for stage in pipeline.stages}
        steps = [stage for stage in pipeline.stages if stage.kind != StageKind.LOST]
        furthest: dict[int, int] = {}
        current: dict[UUID, int] = {}
        lost_after: dict[int, int] = {}
        by_kind = dict.fromkeys(StageKind, 0)
        for count in counts:
            current[count.stage_id] = current.get(count.stage_id, 0) + count.deals
            by_kind[kinds[count.stage_id]] += count.deals
            if count.furthest is not None:
                furthest[count.furthest] = furthest.get(count.furthest, 0) + count.deals
                if kinds[count.stage_id] == StageKind.LOST:
                    lost_after[count.furthest] = lost_after.get(count.furthest, 0) + count.deals
        reached = reach([stage.position for stage in steps], furthest)
        stages = []
        for index, stage in enumerate(steps):
            following = steps[index + 1] if index + 1 < len(steps) else None
            stages.append(
                FunnelStage(
                    **_stage_fields(stage),
                    reached=reached[stage.position],
                    current=current.get(stage.id, 0),
                    lost=lost_after.get(stage.position, 0),
                    conversion=None
                    if following is None
                    else conversion(reached[stage.position], reached[following.position]),
                )
            )
        won, lost = by_kind[StageKind.WON], by_kind[StageKind.LOST]
        return Funnel(
            **self._echo(period, pipeline.id, query.owner_id),
            deals=sum(by_kind.values()),
            open=by_kind[StageKind.OPEN],
            won=won,
            lost=lost,
            win_rate=win_rate(won, lost),
            stages=stages,
        )

    async def stage_times(self, query: AnalyticsFilter, caller: Caller) -> StageTimes:
        """Time in each stage of the pipeline (the default one unless named) and cycle time, from the history."""
        period = Period.looking_back(query.start, query.end, self._clock.today())
        pipeline = await self._pipeline(query.pipeline_id, default=True)
        assert pipeline is not None
        figures = await self._reader.stage_times(self._scope(query, caller, pipeline), self._instants(period))
        return StageTimes(
            **self._echo(period, pipeline.id, query.owner_id),
            stages=[
                StageTime(
                    **_stage_fields(stage),
                    time_in_stage=_durations(figures.by_stage.get(stage.id)),
                )
                for stage in pipeline.stages
            ],
            cycle=CycleTimes(
                closed=_durations(figures.cycle.get(None)),
                won=_durations(figures.cycle.get(StageKind.WON)),
                lost=_durations(figures.cycle.get(StageKind.LOST)),
            ),
        )

    async def forecast(self, query: AnalyticsFilter, caller: Caller) -> Forecast:
        """Open deals' value and probability-weighted value by expected closing month and currency."""
        period = Period.looking_ahead(query.start, query.end, self._clock.today())
        pipeline = await self._pipeline(query.pipeline_id, default=False)
        figures = await self._reader.forecast(self._scope(query, caller, pipeline), period.start, period.end)
        months = [
            ForecastMonth(
                month=cell.month,
                currency=cell.currency,
                deals=cell.deals,
                value=cell.value,
                weighted_value=weighted_value(cell.value_times_percent),
            )
            for cell in sorted(figures.cells, key=lambda cell: (cell.month, cell.currency))
        ]
        totals: dict[str, tuple[int, Decimal, Decimal]] = {}
        for cell in figures.cells:
            deals, value, weighted = totals.get(cell.currency, (0, ZERO, ZERO))
            totals[cell.currency] = (deals + cell.deals, value + cell.value, weighted + cell.value_times_percent)
        return Forecast(
            **self._echo(period, query.pipeline_id, query.owner_id),
            months=months,
            totals=[
                ForecastTotal(currency=currency, deals=deals, value=value, weighted_value=weighted_value(weighted))
                for currency, (deals, value, weighted) in sorted(totals.items())
            ],
            open_deals=figures.open_deals,
            without_value=figures.without_value,
        )

    async def performance(self, query: AnalyticsFilter, caller: Caller) -> Performance:
        """Deals closed in the period: won and lost, their value and the win rate, per owner and per insurer."""
        period = Period.looking_back(query.start, query.end, self._clock.today())
        pipeline = await self._pipeline(query.pipeline_id, default=False)
        figures = await self._reader.performance(self._scope(query, caller, pipeline), self._instants(period))
        owners = figures.owners
        won = sum(n for (_, outcome), n in owners.counts.items() if outcome)
        lost = sum(n for (_, outcome), n in owners.counts.items() if not outcome)
        owner_ids = sorted({key for key, _ in owners.counts}, key=lambda key: (key is None, str(key)))
        insurers = figures.insurers
        return Performance(
            **self._echo(period, query.pipeline_id, query.owner_id),
            won=won,
            lost=lost,
            win_rate=win_rate(won, lost),
            won_value=_money(owners.values, won=True),
            lost_value=_money(owners.values, won=False),
            owners=[
                OwnerPerformance(
                    owner_id=owner_id if isinstance(owner_id, UUID) else None,
                    won=owners.counts.get((owner_id, True), 0),
                    lost=owners.counts.get((owner_id, False), 0),
                    win_rate=win_rate(owners.counts.get((owner_id, True), 0), owners.counts.get((owner_id, False), 0)),
                    won_value=_money(owners.values, won=True, key=owner_id),
                    lost_value=_money(owners.values, won=False, key=owner_id),
                )
                for owner_id in owner_ids
            ],
            insurers=[_insurer(str(name), insurers) for name in sorted({str(key) for key, _ in insurers.counts})],
        )

    async def income(self, query: AnalyticsFilter, caller: Caller) -> Income:
        """Premium, commission and other incomes by posting month and currency; overdue instalments today."""
        today = self._clock.today()
        period = Period.looking_back(query.start, query.end, today)
        pipeline = await self._pipeline(query.pipeline_id, default=False)
        figures = await self._reader.income(self._scope(query, caller, pipeline), period.start, period.end, today)
        months = [
            IncomeMonth(
                month=cell.month,
                currency=cell.currency,
                premium=cell.premium,
                commission=cell.commission,
                other=cell.other,
                total=income_total(cell.premium, cell.commission, cell.other),
            )
            for cell in sorted(figures.months, key=lambda cell: (cell.month, cell.currency))
        ]
        sums: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        for cell in figures.months:
            premium, commission, other = sums.get(cell.currency, (ZERO, ZERO, ZERO))
            sums[cell.currency] = (premium + cell.premium, commission + cell.commission, other + cell.other)
        return Income(
            **self._echo(period, query.pipeline_id, query.owner_id),
            months=months,
            totals=[
                IncomeTotal(
                    currency=currency,
                    premium=premium,
                    commission=commission,
                    other=other,
                    total=income_total(premium, commission, other),
                )
                for currency, (premium, commission, other) in sorted(sums.items())
            ],
            overdue=Overdue(
                as_of=today,
                totals=[
                    OverdueTotal(
                        currency=cell.currency,
                        instalments=cell.instalments,
                        outstanding=cell.outstanding,
                        oldest_planned_date=cell.oldest_planned_date,
                    )
                    for cell in sorted(figures.overdue, key=lambda cell: cell.currency)
                ],
            ),
        )

    async def _pipeline(self, pipeline_id: UUID | None, *, default: bool) -> Pipeline | None:
        """The pipeline named; without one, the default pipeline when ``default``, else none (every pipeline)."""
        if pipeline_id is None:
            return await self._pipelines.default() if default else None
        pipeline = await self._pipelines.get(pipeline_id)
        if pipeline is None:
            raise PipelineNotFound(
                f"Pipeline {pipeline_id} does not exist.", errors=[FieldProblem("pipeline_id", "no such pipeline")]
            )
        return pipeline

    @staticmethod
    def _scope(query: AnalyticsFilter, caller: Caller, pipeline: Pipeline | None) -> Scope:
        return Scope(
            access=Access.of(caller), pipeline_id=None if pipeline is None else pipeline.id, owner_id=query.owner_id
        )

    def _instants(self, period: Period) -> Instants:
        start, end = period.instants(self._clock.zone)
        return Instants(start, end)

    @staticmethod
    def _echo(period: Period, pipeline_id: UUID | None, owner_id: UUID | None) -> dict[str, object]:
        return {"from": period.start, "to": period.end, "pipeline_id": pipeline_id, "owner_id": owner_id}


def _stage_fields(stage: Stage) -> dict[str, Any]:
    """What a figure per stage says of its stage."""
    return {"stage_id": stage.id, "key": stage.key, "name": stage.name, "kind": stage.kind, "position": stage.position}


def _durations(figures: DurationFigures | None) -> Durations:
    figures = figures or DurationFigures()
    return Durations(count=figures.count, median_seconds=seconds(figures.median), p90_seconds=seconds(figures.p90))


def _money(
    values: Mapping[tuple[UUID | str | None, bool, str], Decimal], *, won: bool, key: object = ...
) -> list[MoneyTotal]:
    """The values of one outcome by currency: of one key, or (``key`` left out) of all keys together."""
    sums: dict[str, Decimal] = {}
    for (owner, outcome, currency), value in values.items():
        if outcome == won and (key is ... or owner == key):
            sums[currency] = sums.get(currency, ZERO) + value
    return [MoneyTotal(currency=currency, amount=amount) for currency, amount in sorted(sums.items())]


def _insurer(name: str, outcomes: Outcomes) -> InsurerPerformance:
    won = outcomes.counts.get((name, True), 0)
    lost = outcomes.counts.get((name, False), 0)
    return InsurerPerformance(
        insurer=name,
        quoted=won + lost,
        won=won,
        lost=lost,
        win_rate=win_rate(won, lost),
        won_value=_money(outcomes.values, won=True, key=name),
    )
