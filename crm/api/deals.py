"""HTTP routes of the deals module."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import WithJsonSchema
from starlette.convertors import Convertor, register_url_convertor

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import page_response, record_response
from crm.domain.deals.rules import DealStatus
from crm.domain.deals.schemas import (
    NO_MANAGER,
    Deal,
    DealCreate,
    DealFilter,
    DealMember,
    DealMemberCreate,
    DealUpdate,
    PipelineMove,
    ReviewPeriod,
    StageChange,
    StageHistoryEntry,
    StageMetrics,
)
from crm.domain.errors import FieldProblem, RuleViolation
from crm.domain.pagination import Page, PageRequest
from crm.domain.pipelines.schemas import StageKey
from crm.domain.types import SearchTerm

router = APIRouter(prefix="/api/v1/deals", tags=["deals"])


class DealIdSegment(Convertor[str]):
    """``/deals/{deal_id}`` without ``/deals/stage-metrics`` and ``/deals/export``: those paths are resources of
    their own (GET only), so ``PATCH /deals/stage-metrics`` is a 405 naming GET, not a deal id that fails
    validation. Any other segment still reaches the route, which answers 422 for a malformed id as every route
    does."""

    regex = "(?!(stage-metrics|export)$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("deal_id", DealIdSegment())

# A manager filter value, as _managers reads it.
ManagerRef = Annotated[
    str, WithJsonSchema({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "const": NO_MANAGER}]})
]

ExpectedVersion = Annotated[int | None, Depends(expected_version)]


def _managers(values: list[str]) -> tuple[frozenset[UUID], bool]:
    owner_ids: set[UUID] = set()
    unassigned = False
    for value in values:
        if value == NO_MANAGER:
            unassigned = True
            continue
        try:
            owner_ids.add(UUID(value))
        except ValueError as exc:
            raise RuleViolation(
                f"manager must be a UUID or {NO_MANAGER}.",
                errors=[FieldProblem("manager", f"{value[:50]!r} is neither a UUID nor {NO_MANAGER}")],
            ) from exc
    return frozenset(owner_ids), unassigned


async def deal_criteria(
    services: Services,
    stage: Annotated[
        list[StageKey] | None,
        Query(max_length=50, description="Stage keys, repeatable; a key no pipeline has is a 422."),
    ] = None,
    status_: Annotated[list[DealStatus] | None, Query(alias="status", description="Repeatable.")] = None,
    manager: Annotated[
        list[ManagerRef] | None,
        Query(max_length=50, description=f"Owner ids, repeatable; `{NO_MANAGER}` for unassigned deals."),
    ] = None,
    client_id: UUID | None = None,
    period: Annotated[
        ReviewPeriod, Query(description="Review due within N days, overdue included; `all` for any date.")
    ] = ReviewPeriod.ALL,
    search: Annotated[SearchTerm | None, Query(description="Part of the title or description.")] = None,
    pipeline_id: Annotated[UUID | None, Query(description="Deals of this pipeline.")] = None,
) -> DealFilter:
    # Both stage and status given: a deal must satisfy both (possibly none does).
    statuses = frozenset(status_) if status_ else None
    owner_ids, unassigned = _managers(manager or [])
    days = period.days
    due_by = None if days is None else services.clock.today() + timedelta(days=days)
    return DealFilter(
        statuses=statuses,
        owner_ids=owner_ids,
        include_unassigned=unassigned,
        client_id=client_id,
        review_due_by=due_by,
        search=search,
        pipeline_id=pipeline_id,
        stages=frozenset(stage) if stage else None,
    )


Criteria = Annotated[DealFilter, Depends(deal_criteria)]


async def deal_filter(criteria: Criteria, page: Annotated[PageRequest, Depends(page_request)]) -> DealFilter:
    return criteria.model_copy(update={"page": page})


Filter = Annotated[DealFilter, Depends(deal_filter)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Deal,
    responses=problem_responses(400, 404, 409, 422),
    summary="Create a deal for a client",
)
async def create_deal(body: DealCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    return answer(await services.deals.create(body, caller, answer.idempotency))


@router.get("", response_model=Page[Deal], responses=problem_responses(400, 422), summary="List deals")
async def list_deals(caller: CurrentCaller, services: Services, query: Filter) -> Response:
    """Ordered by `next_review_at`, then `updated_at`, then `id`; live deals only."""
    return page_response(await services.deals.list(query, caller), services.cursors)


@router.get(
    "/stage-metrics",
    response_model=StageMetrics,
    responses=problem_responses(404, 422),
    summary="Deal counts, values and funnel rates per stage",
)
async def stage_metrics(caller: CurrentCaller, services: Services, query: Filter) -> StageMetrics:
    """Takes the list's filters (paging aside). One row per stage of the pipeline (`pipeline_id`, else the default
    one), in its order; an unknown `pipeline_id` is 404 `pipeline_not_found`."""
    return await services.deals.stage_metrics(query, caller)


@router.get(
    "/{deal_id:deal_id}",
    response_model=Deal,
    responses={**problem_responses(404, 422), 304: {"description": "Not modified"}},
    summary="Get a deal",
)
async def get_deal(
    deal_id: UUID, caller: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    deal = await services.deals.get(deal_id, caller)
    return record_response(deal, if_none_match=if_none_match)


@router.patch(
    "/{deal_id:deal_id}",
    response_model=Deal,
    responses=problem_responses(400, 404, 409, 412, 422),
    summary="Change some fields of a deal",
)
async def update_deal(
    deal_id: UUID,
    body: DealUpdate,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
) -> Response:
    deal = await services.deals.update(deal_id, body, caller, if_match=if_match)
    return record_response(deal)


@router.patch(
    "/{deal_id}/stage",
    response_model=Deal,
    responses=problem_responses(400, 404, 409, 412, 422),
    summary="Move a deal to another stage",
)
async def change_stage(
    deal_id: UUID,
    body: StageChange,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
) -> Response:
    """`stage` is a stage key of the deal's pipeline (422 `validation_error` naming `stage` otherwise); the status
    follows it. A lost stage takes a `lost_reason`: 422 `lost_reason_required` without one where the pipeline
    requires it, `invalid_lost_reason` when it is not one of the pipeline's list."""
    deal = await services.deals.change_stage(deal_id, body, caller, if_match=if_match)
    return record_response(deal)


@router.patch(
    "/{deal_id}/pipeline",
    response_model=Deal,
    responses=problem_responses(400, 404, 409, 412, 422),
    summary="Move a deal to another pipeline",
)
async def move_to_pipeline(
    deal_id: UUID,
    body: PipelineMove,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
) -> Response:
    """Into `stage` of that pipeline; without it, the stage with the deal's stage key, else the pipeline's only
    stage of the same kind; else 422 `stage_required`. An unknown pipeline is 404 `pipeline_not_found`."""
    deal = await services.deals.move_to_pipeline(deal_id, body, caller, if_match=if_match)
    return record_response(deal)


@router.get(
    "/{deal_id}/stage-history",
    response_model=Page[StageHistoryEntry],
    responses=problem_responses(400, 404, 422),
    summary="Every stage a deal came into, oldest first",
)
async def stage_history(
    deal_id: UUID, caller: CurrentCaller, services: Services, page: Annotated[PageRequest, Depends(page_request)]
) -> Response:
    """One entry per move, with who made it and how long the deal had stood in the stage it left; the first is its
    creation (or, for deals older than pipelines, where it stood when history began). Whoever sees the deal sees
    its history."""
    return page_response(await services.deals.stage_history(deal_id, page, caller), services.cursors)


@router.delete(
    "/{deal_id:deal_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412, 422),
    summary="Soft-delete a deal (refused while it has live policies)",
)
async def delete_deal(deal_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion) -> Response:
    await services.deals.delete(deal_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{deal_id}/restore",
    response_model=Deal,
    responses=problem_responses(404, 409, 422),
    summary="Restore a soft-deleted deal",
)
async def restore_deal(deal_id: UUID, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    return answer(await services.deals.restore(deal_id, caller, answer.idempotency))


@router.get(
    "/{deal_id}/members",
    response_model=Page[DealMember],
    responses=problem_responses(400, 404, 422),
    summary="List the team of a deal",
    tags=["deal team"],
)
async def list_members(
    deal_id: UUID, caller: CurrentCaller, services: Services, page: Annotated[PageRequest, Depends(page_request)]
) -> Response:
    """Oldest first. Whoever sees the deal sees its team."""
    return page_response(await services.deal_team.list(deal_id, page, caller), services.cursors)


@router.post(
    "/{deal_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=DealMember,
    responses=problem_responses(400, 404, 409, 422),
    summary="Put a person on the team of a deal",
    tags=["deal team"],
)
async def add_member(
    deal_id: UUID, body: DealMemberCreate, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """An `executor` sees the deal and what hangs off it, and writes its journal; a `co_owner` may do what its
    owner does. Only who may change the deal changes its team; someone already on it is a 409 `member_exists`."""
    return answer(await services.deal_team.add(deal_id, body, caller, answer.idempotency))


@router.delete(
    "/{deal_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
    summary="Take a person off the team of a deal",
    tags=["deal team"],
)
async def remove_member(deal_id: UUID, user_id: UUID, caller: CurrentCaller, services: Services) -> Response:
    """They lose what only the team gave them at once, on open streams too."""
    await services.deal_team.remove(deal_id, user_id, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
