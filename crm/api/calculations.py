"""HTTP routes of the calculations (quotes) module, nested under their deal."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import page_response, record_response
from crm.domain.calculations.rules import CalculationStatus
from crm.domain.calculations.schemas import (
    Calculation,
    CalculationCreate,
    CalculationFilter,
    CalculationStatusChange,
    CalculationUpdate,
)
from crm.domain.pagination import Page, PageRequest
from crm.domain.types import Day, SearchTerm

router = APIRouter(prefix="/api/v1/deals/{deal_id}/calculations", tags=["calculations"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]


async def calculation_filter(
    deal_id: UUID,
    page: Annotated[PageRequest, Depends(page_request)],
    status_: Annotated[list[CalculationStatus] | None, Query(alias="status", description="Repeatable.")] = None,
    insurance_company: Annotated[
        SearchTerm | None, Query(description="Part of the insurer's name, case-insensitive.")
    ] = None,
    calculation_date_from: Annotated[Day | None, Query(description="Inclusive.")] = None,
    calculation_date_to: Annotated[Day | None, Query(description="Inclusive.")] = None,
) -> CalculationFilter:
    return CalculationFilter(
        deal_id=deal_id,
        statuses=frozenset(status_) if status_ else None,
        insurance_company=insurance_company,
        calculation_date_from=calculation_date_from,
        calculation_date_to=calculation_date_to,
        page=page,
    )


Filter = Annotated[CalculationFilter, Depends(calculation_filter)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Calculation,
    responses=problem_responses(400, 404, 422),
    summary="Add a calculation (quote) to a deal",
)
async def create_calculation(
    deal_id: UUID, body: CalculationCreate, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """Starts as `draft`; move it with `POST …/{id}/status`."""
    return answer(await services.calculations.create(deal_id, body, caller, answer.idempotency))


@router.get(
    "",
    response_model=Page[Calculation],
    responses=problem_responses(400, 404, 422),
    summary="List a deal's calculations",
)
async def list_calculations(caller: CurrentCaller, services: Services, query: Filter) -> Response:
    """Oldest first (`created_at`, then `id`); live calculations only."""
    return page_response(await services.calculations.list(query, caller), services.cursors)


@router.get(
    "/{calculation_id}",
    response_model=Calculation,
    responses={**problem_responses(404, 422), 304: {"description": "Not modified"}},
    summary="Get a calculation",
)
async def get_calculation(
    deal_id: UUID, calculation_id: UUID, caller: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    calculation = await services.calculations.get(deal_id, calculation_id, caller)
    return record_response(calculation, if_none_match=if_none_match)


@router.patch(
    "/{calculation_id}",
    response_model=Calculation,
    responses=problem_responses(400, 404, 412, 422),
    summary="Change some fields of a draft or ready calculation",
)
async def update_calculation(
    deal_id: UUID,
    calculation_id: UUID,
    body: CalculationUpdate,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
) -> Response:
    """Confirmed and archived calculations are read-only (400 `calculation_update_forbidden`); a ready one
    must keep what `ready` needs."""
    calculation = await services.calculations.update(deal_id, calculation_id, body, caller, if_match=if_match)
    return record_response(calculation)


@router.post(
    "/{calculation_id}/status",
    response_model=Calculation,
    responses=problem_responses(400, 404, 409, 412, 422),
    summary="Move a calculation along its workflow",
)
async def change_calculation_status(
    deal_id: UUID,
    calculation_id: UUID,
    body: CalculationStatusChange,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
    answer: Answer,
) -> Response:
    """`draft→ready→confirmed→archived`, and `ready→archived`; other moves are 409
    `invalid_status_transition`, asking for the current status changes nothing. `ready` needs a file, a
    program, a premium and both validity bounds (400 `files_required_for_ready`, …, naming every gap in
    `errors`). Confirming may link a live policy of the same deal (404 `policy_not_found`); a calculation
    holding that policy before loses the link."""
    calculation = await services.calculations.change_status(
        deal_id, calculation_id, body, caller, answer.idempotency, if_match=if_match
    )
    return answer(calculation)


@router.delete(
    "/{calculation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 404, 412, 422),
    summary="Soft-delete a draft or ready calculation",
)
async def delete_calculation(
    deal_id: UUID, calculation_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    await services.calculations.delete(deal_id, calculation_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{calculation_id}/restore",
    response_model=Calculation,
    responses=problem_responses(400, 404, 409, 422),
    summary="Restore a soft-deleted calculation",
)
async def restore_calculation(
    deal_id: UUID, calculation_id: UUID, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """A deleted calculation comes back as it was, without the policy link the delete dropped."""
    return answer(await services.calculations.restore(deal_id, calculation_id, caller, answer.idempotency))
