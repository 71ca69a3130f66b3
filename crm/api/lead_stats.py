"""HTTP route of lead intake's statistics: how a period's appeals were distributed."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from crm.api.deps import CurrentCaller, Services
from crm.api.problems import problem_responses
from crm.api.responses import json_response
from crm.domain.leads.stats import DistributionStats
from crm.domain.types import Instant

router = APIRouter(prefix="/api/v1/stats", tags=["lead intake"])


@router.get(
    "/distribution",
    response_model=DistributionStats,
    responses=problem_responses(403, 404, 422),
    summary="How the appeals of a period were distributed",
)
async def distribution_stats(
    caller: CurrentCaller,
    services: Services,
    period_from: Annotated[
        Instant | None,
        Query(alias="from", description="Appeals that came in at or after this instant. Default: 7 days before `to`."),
    ] = None,
    period_to: Annotated[
        Instant | None,
        Query(alias="to", description="Appeals that came in before this instant (exclusive). Default: now."),
    ] = None,
    source_id: Annotated[UUID | None, Query(description="Only the appeals of this source.")] = None,
) -> Response:
    """Admins and managers. Per operator: the period's appeals they hold (open, closed, converted), their share of
    the assigned ones against the share their current weights promise, their load now against `max_load`, and the
    time to the first action on their appeals; per source: its appeals, those unassigned, and each operator's
    share against their weight's. Shares are decimal strings with 4 places, seconds with 3. `to` not after
    `from` is 422 naming `to`; a period over 366 days 422 naming `from`; an unknown `source_id` 404
    `source_not_found`."""
    return json_response(await services.lead_stats.distribution(caller, period_from, period_to, source_id))
