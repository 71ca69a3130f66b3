"""What the analytics routes take and serve.

Money is a decimal string with its currency; amounts of different currencies are never added (each figure is
grouped by currency). Ratios are decimal strings with 4 places, durations seconds with 3, rounded half up.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.money import Amount
from crm.domain.pipelines.rules import StageKind
from crm.domain.ratios import Seconds, Share


class AnalyticsFilter(BaseModel):
    """The filters every figure takes; the period's bounds are business days, ``to`` exclusive."""

    model_config = ConfigDict(frozen=True)

    start: date | None = None
    end: date | None = None
    pipeline_id: UUID | None = None
    owner_id: UUID | None = None


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    period_from: date = Field(alias="from", description="The first business day of the period.")
    period_to: date = Field(alias="to", description="The day after the period's last (exclusive).")
    pipeline_id: UUID | None = Field(description="The pipeline counted; null: every pipeline.")
    owner_id: UUID | None = Field(description="The owner whose deals are counted; null: every owner.")


class MoneyTotal(BaseModel):
    model_config = ConfigDict(frozen=True)

    currency: str = Field(examples=["RUB"])
    amount: Amount


class FunnelStage(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage_id: UUID
    key: str
    name: str
    kind: StageKind
    position: int
    reached: int = Field(description="Deals of the period that entered this stage or a later one of the funnel.")
    current: int = Field(description="Deals of the period standing in this stage now.")
    lost: int = Field(description="Deals of the period lost now whose furthest stage was this one.")
    conversion: Share | None = Field(
        description="Of the deals that reached this stage, the share that reached the next; null for the last stage "
        "and when none reached this one."
    )


class Funnel(_Figures):
    deals: int = Field(description="Live deals of the pipeline created within the period.")
    open: int
    won: int
    lost: int
    win_rate: Share | None = Field(description="won / (won + lost); null when none closed.")
    stages: list[FunnelStage] = Field(description="The pipeline's open and won stages, in its order.")


class Durations(BaseModel):
    model_config = ConfigDict(frozen=True)

    count: int
    median_seconds: Seconds | None = Field(description="Interpolated (percentile_cont 0.5); null when count is 0.")
    p90_seconds: Seconds | None = Field(description="Interpolated (percentile_cont 0.9); null when count is 0.")


class StageTime(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage_id: UUID
    key: str
    name: str
    kind: StageKind
    position: int
    time_in_stage: Durations = Field(description="Stays in the stage that ended (the deal left it) in the period.")


class CycleTimes(BaseModel):
    model_config = ConfigDict(frozen=True)

    closed: Durations = Field(description="Deals closed (won or lost) in the period: from creation to closing.")
    won: Durations
    lost: Durations


class StageTimes(_Figures):
    stages: list[StageTime] = Field(description="The pipeline's stages, in its order.")
    cycle: CycleTimes


class ForecastMonth(BaseModel):
    model_config = ConfigDict(frozen=True)

    month: date = Field(description="The first day of the expected closing month.", examples=["2026-12-01"])
    currency: str = Field(examples=["RUB"])
    deals: int
    value: Amount = Field(description="The deals' planned payments in this currency.")
    weighted_value: Amount = Field(description="Each deal's value times its stage's probability, summed.")


class ForecastTotal(BaseModel):
    model_config = ConfigDict(frozen=True)

    currency: str = Field(examples=["RUB"])
    deals: int
    value: Amount
    weighted_value: Amount


class Forecast(_Figures):
    months: list[ForecastMonth] = Field(description="By month, then currency.")
    totals: list[ForecastTotal] = Field(description="The period's months added up, by currency.")
    open_deals: int = Field(description="Live open deals counted (any expected month, or none).")
    without_value: int = Field(description="Of them, those with no planned payment: no value, no expected month.")


class OwnerPerformance(BaseModel):
    model_config = ConfigDict(frozen=True)

    owner_id: UUID | None = Field(description="null: the deals with no owner.")
    won: int
    lost: int
    win_rate: Share | None
    won_value: list[MoneyTotal]
    lost_value: list[MoneyTotal]


class InsurerPerformance(BaseModel):
    model_config = ConfigDict(frozen=True)

    insurer: str = Field(description="A calculation's `insurance_company`, as written.")
    quoted: int = Field(description="Closed deals with a live calculation of this insurer.")
    won: int = Field(description="Of them, won deals with a live policy made from its calculation.")
    lost: int = Field(description="The others: lost, or won with another insurer's policy.")
    win_rate: Share | None
    won_value: list[MoneyTotal] = Field(description="Planned payments of the policies made from its calculations.")


class Performance(_Figures):
    won: int
    lost: int
    win_rate: Share | None
    won_value: list[MoneyTotal]
    lost_value: list[MoneyTotal]
    owners: list[OwnerPerformance] = Field(description="By owner id, the deals without an owner last.")
    insurers: list[InsurerPerformance] = Field(description="By insurer name.")


class IncomeMonth(BaseModel):
    model_config = ConfigDict(frozen=True)

    month: date = Field(examples=["2026-12-01"])
    currency: str = Field(examples=["RUB"])
    premium: Amount
    commission: Amount
    other: Amount = Field(description="Incomes of the other categories (installment, bonus, refund, other).")
    total: Amount


class OverdueTotal(BaseModel):
    model_config = ConfigDict(frozen=True)

    currency: str = Field(examples=["RUB"])
    instalments: int
    outstanding: Amount = Field(description="Planned amounts less what was received (corrections included).")
    oldest_planned_date: date


class Overdue(BaseModel):
    model_config = ConfigDict(frozen=True)

    as_of: date = Field(description="Today in the business time zone: overdue is a state of today, not the period.")
    totals: list[OverdueTotal] = Field(description="By currency.")


class IncomeTotal(BaseModel):
    model_config = ConfigDict(frozen=True)

    currency: str = Field(examples=["RUB"])
    premium: Amount
    commission: Amount
    other: Amount
    total: Amount


class Income(_Figures):
    months: list[IncomeMonth] = Field(description="Incomes posted in the period, by month, then currency.")
    totals: list[IncomeTotal] = Field(description="The period's months added up, by currency.")
    overdue: Overdue
