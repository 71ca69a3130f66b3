"""HTTP routes of lead intake's traffic: leads, appeals (taken in, distributed, closed, handed over, converted) and
each appeal's assignment log."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import NOT_MODIFIED, json_response, page_response, record_response
from crm.domain.leads.appeals import (
    Appeal,
    AppealClose,
    AppealConvert,
    AppealCreate,
    AppealFilter,
    AppealReassign,
    AppealStatus,
    AssignmentLog,
    Lead,
    LeadCreate,
    LeadFilter,
    LeadUpdate,
)
from crm.domain.leads.intake import Conversion
from crm.domain.pagination import Page, PageRequest
from crm.domain.types import SearchTerm

leads = APIRouter(prefix="/api/v1/leads", tags=["lead intake"])
appeals = APIRouter(prefix="/api/v1/appeals", tags=["lead intake"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]
Pages = Annotated[PageRequest, Depends(page_request)]


@leads.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Lead,
    responses=problem_responses(403, 409, 422),
    summary="Create a lead",
)
async def create_lead(body: LeadCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    """Admins, managers and sellers. Leads usually come into being with their first appeal; a live lead with the
    `external_id` already is 409 `lead_external_id_conflict`."""
    return answer(await services.leads.create(body, caller, answer.idempotency))


@leads.get("", response_model=Page[Lead], responses=problem_responses(400, 422), summary="List leads")
async def list_leads(
    caller: CurrentCaller,
    services: Services,
    page: Pages,
    search: SearchTerm | None = None,
    converted: bool | None = None,
) -> Response:
    """Newest first. `search` matches part of the external id, name, e-mail or phone; `converted` whether the lead
    became a client. Admins and managers see every lead, anyone else the leads of the appeals assigned to them."""
    query = LeadFilter(search=search, converted=converted, page=page)
    return page_response(await services.leads.list(query, caller), services.cursors)


@leads.get(
    "/{lead_id}", response_model=Lead, responses={**problem_responses(404, 422), **NOT_MODIFIED}, summary="Get a lead"
)
async def get_lead(
    lead_id: UUID, caller: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    return record_response(await services.leads.get(lead_id, caller), if_none_match=if_none_match)


@leads.patch(
    "/{lead_id}",
    response_model=Lead,
    responses=problem_responses(403, 404, 412, 422),
    summary="Change a lead's contact details",
)
async def update_lead(
    lead_id: UUID, body: LeadUpdate, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    """Admins and managers; `external_id` never changes."""
    return record_response(await services.leads.update(lead_id, body, caller, if_match=if_match))


@leads.delete(
    "/{lead_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 412, 422),
    summary="Soft-delete a lead",
)
async def delete_lead(lead_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion) -> Response:
    """Admins and managers. The lead's appeals stay; a later contact with its `external_id` makes a new lead."""
    await services.leads.delete(lead_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@appeals.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Appeal,
    responses=problem_responses(403, 404, 409, 422),
    summary="Take in an appeal and distribute it",
)
async def create_appeal(body: AppealCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    """Admins, managers and sellers (an intake channel's account). The lead is found by `external_id` (made if
    new: concurrent first contacts make one lead). The appeal goes to the operator of the lead's open appeal on
    this source when the source is sticky and they can take it, else to an operator drawn with probability
    proportional to their weight among those active, present now and under `max_load`; with nobody available it
    is stored unassigned (`operator_id` null, event `appeal.unassigned`) and taken as soon as someone has room.
    An unknown source is 404 `source_not_found`, an inactive one 409 `source_inactive`, both naming
    `source_id`."""
    return answer(await services.appeals.create(body, caller, answer.idempotency))


@appeals.get("", response_model=Page[Appeal], responses=problem_responses(400, 422), summary="List appeals")
async def list_appeals(
    caller: CurrentCaller,
    services: Services,
    page: Pages,
    source_id: UUID | None = None,
    operator_id: UUID | None = None,
    lead_id: UUID | None = None,
    status: AppealStatus | None = None,
    unassigned: bool | None = None,
) -> Response:
    """Newest first. Admins and managers see every appeal; anyone else those assigned to the operator they are."""
    query = AppealFilter(
        source_id=source_id, operator_id=operator_id, lead_id=lead_id, status=status, unassigned=unassigned, page=page
    )
    return page_response(await services.appeals.list(query, caller), services.cursors)


@appeals.get(
    "/{appeal_id}",
    response_model=Appeal,
    responses={**problem_responses(404, 422), **NOT_MODIFIED},
    summary="Get an appeal",
)
async def get_appeal(
    appeal_id: UUID, caller: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    return record_response(await services.appeals.get(appeal_id, caller), if_none_match=if_none_match)


@appeals.get(
    "/{appeal_id}/assignment",
    response_model=AssignmentLog,
    responses=problem_responses(404, 422),
    summary="Why the appeal went where it went",
)
async def get_assignment(appeal_id: UUID, caller: CurrentCaller, services: Services) -> Response:
    """The current decision and every one before it: the reason (`weighted`, `sticky`, `backlog`, `manual`,
    `unassigned`) and each listed operator as they stood — weight, load, `max_load`, and why they were excluded."""
    return json_response(await services.appeals.assignment(appeal_id, caller))


@appeals.post(
    "/{appeal_id}/close",
    response_model=Appeal,
    status_code=status.HTTP_200_OK,
    responses=problem_responses(403, 404, 409, 412, 422),
    summary="Close an appeal",
)
async def close_appeal(
    appeal_id: UUID,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
    answer: Answer,
    body: AppealClose | None = None,
) -> Response:
    """Admins, managers and the operator holding it. Their slot frees and the oldest unassigned appeal they may
    take comes to them. A closed appeal is 409 `appeal_closed`."""
    closing = body or AppealClose()
    return answer(await services.appeals.close(appeal_id, closing, caller, answer.idempotency, if_match=if_match))


@appeals.post(
    "/{appeal_id}/reassign",
    response_model=Appeal,
    status_code=status.HTTP_200_OK,
    responses=problem_responses(403, 404, 409, 412, 422),
    summary="Hand an appeal to another operator",
)
async def reassign_appeal(
    appeal_id: UUID,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
    answer: Answer,
    body: AppealReassign | None = None,
) -> Response:
    """With `operator_id` (admins and managers): to that operator, if active and under `max_load` (409
    `operator_unavailable` otherwise; 404 `operator_not_found` if there is none). Without: drawn again among the
    source's other candidates — also by the operator holding it, handing it back; nobody available leaves it
    unassigned."""
    reassign = body or AppealReassign()
    return answer(await services.appeals.reassign(appeal_id, reassign, caller, answer.idempotency, if_match=if_match))


@appeals.post(
    "/{appeal_id}/convert",
    response_model=Conversion,
    status_code=status.HTTP_200_OK,
    responses=problem_responses(403, 404, 409, 422),
    summary="Convert an appeal into a client's deal",
)
async def convert_appeal(
    appeal_id: UUID, caller: CurrentCaller, services: Services, answer: Answer, body: AppealConvert | None = None
) -> Response:
    """Admins, managers and the operator holding it, in one transaction: the client (`client_id`; else the lead's
    client; else a live client with the lead's e-mail or phone; else a new client from the lead), a new deal for
    them, the lead linked to the client and the appeal closed with `deal_id`. Event `appeal.converted` travels
    on the deal stream too."""
    return answer(await services.appeals.convert(appeal_id, body or AppealConvert(), caller, answer.idempotency))
