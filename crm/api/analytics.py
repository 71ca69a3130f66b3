"""HTTP routes of the sales analytics: funnel, stage times, forecast, performance, income.

Every route takes the same filters and counts only the deals its caller may see; docs/analytics.md defines each
figure and the date it is bucketed by.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from crm.api.deps import CurrentCaller, Services
from crm.api.problems import problem_responses
from crm.api.responses import json_response
from crm.domain.analytics.schemas import AnalyticsFilter, Forecast, Funnel, Income, Performance, StageTimes
from crm.domain.types import Day

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])


async def analytics_filter(
    period_from: Annotated[
        Day | None,
        Query(
            alias="from",
            description="The first business day counted (YYYY-MM-DD, business time zone). Default: see each route.",
        ),
    ] = None,
    period_to: Annotated[
        Day | None,
        Query(alias="to", description="The day after the last one counted (exclusive). At most 366 days after `from`."),
    ] = None,
    pipeline_id: Annotated[UUID | None, Query(description="Only the deals standing in this pipeline now.")] = None,
    owner_id: Annotated[UUID | None, Query(description="Only the deals this user owns.")] = None,
) -> AnalyticsFilter:
    return AnalyticsFilter(start=period_from, end=period_to, pipeline_id=pipeline_id, owner_id=owner_id)


Filter = Annotated[AnalyticsFilter, Depends(analytics_filter)]
PROBLEMS = problem_responses(404, 422)


@router.get("/funnel", response_model=Funnel, responses=PROBLEMS, summary="How far the period's new deals came")
async def funnel(caller: CurrentCaller, services: Services, query: Filter) -> Response:
    """Deals created in the period (default: this calendar month and the five before it) in the pipeline
    (`pipeline_id`, else the default one): per open and won stage in order, how many reached it (entered it or a
    later one, per the stage history), stand in it now, and were lost after it; the conversion to the next stage
    and the win rate as decimal strings with 4 places. An unknown `pipeline_id` is 404 `pipeline_not_found`."""
    return json_response(await services.analytics.funnel(query, caller))


@router.get("/stage-times", response_model=StageTimes, responses=PROBLEMS, summary="Time in each stage and cycle time")
async def stage_times(caller: CurrentCaller, services: Services, query: Filter) -> Response:
    """Per stage of the pipeline (`pipeline_id`, else the default one): the median and 90th percentile of the stays
    that ended in the period (the deal left the stage then); and the cycle time (creation to closing) of the deals
    closed in the period, won, lost and both. Seconds as decimal strings with 3 places."""
    return json_response(await services.analytics.stage_times(query, caller))


@router.get(
    "/forecast",
    response_model=Forecast,
    responses=PROBLEMS,
    summary="Open deals' value and weighted forecast by closing month",
)
async def forecast(caller: CurrentCaller, services: Services, query: Filter) -> Response:
    """Open deals by the month of their first planned payment (their expected closing) within the period (default:
    this calendar month and the five after it) and currency: their value (planned payments) and that value times
    their stage's probability."""
    return json_response(await services.analytics.forecast(query, caller))


@router.get(
    "/performance",
    response_model=Performance,
    responses=PROBLEMS,
    summary="Won and lost deals, value and win rate per owner and insurer",
)
async def performance(caller: CurrentCaller, services: Services, query: Filter) -> Response:
    """Deals closed (won or lost) in the period (default: this calendar month and the five before it): counts,
    values by currency and the win rate, in all, per owner, and per insurer that quoted on them."""
    return json_response(await services.analytics.performance(query, caller))


@router.get(
    "/income", response_model=Income, responses=PROBLEMS, summary="Premium and commission income; overdue instalments"
)
async def income(caller: CurrentCaller, services: Services, query: Filter) -> Response:
    """Incomes posted in the period (default: this calendar month and the five before it) by month and currency:
    premium, commission, other; and the instalments overdue today, by currency."""
    return json_response(await services.analytics.income(query, caller))
