"""HTTP routes of the clients module."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import page_response, record_response
from crm.domain.clients.schemas import Client, ClientCreate, ClientFilter, ClientStatus, ClientUpdate
from crm.domain.pagination import Page, PageRequest
from crm.domain.types import SearchTerm

router = APIRouter(prefix="/api/v1/clients", tags=["clients"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Client,
    responses=problem_responses(400, 409, 422),
    summary="Create a client",
)
async def create_client(body: ClientCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    return answer(await services.clients.create(body, caller, answer.idempotency))


@router.get("", response_model=Page[Client], responses=problem_responses(400, 422), summary="List clients")
async def list_clients(
    caller: CurrentCaller,
    services: Services,
    page: Annotated[PageRequest, Depends(page_request)],
    search: Annotated[SearchTerm | None, Query(description="Part of the name, email or phone.")] = None,
    status_: Annotated[ClientStatus | None, Query(alias="status")] = None,
    owner_id: UUID | None = None,
) -> Response:
    """Newest first; live clients only."""
    query = ClientFilter(search=search, status=status_, owner_id=owner_id, page=page)
    return page_response(await services.clients.list(query, caller), services.cursors)


@router.get(
    "/{client_id}",
    response_model=Client,
    responses={**problem_responses(404, 422), 304: {"description": "Not modified"}},
    summary="Get a client",
)
async def get_client(
    client_id: UUID, caller: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    client = await services.clients.get(client_id, caller)
    return record_response(client, if_none_match=if_none_match)


@router.patch(
    "/{client_id}",
    response_model=Client,
    responses=problem_responses(400, 404, 412, 422),
    summary="Change some fields of a client",
)
async def update_client(
    client_id: UUID,
    body: ClientUpdate,
    caller: CurrentCaller,
    services: Services,
    if_match: ExpectedVersion,
) -> Response:
    client = await services.clients.update(client_id, body, caller, if_match=if_match)
    return record_response(client)


@router.delete(
    "/{client_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409, 412, 422),
    summary="Soft-delete a client (refused while it has open deals)",
)
async def delete_client(
    client_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    await services.clients.delete(client_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{client_id}/restore",
    response_model=Client,
    responses=problem_responses(404, 422),
    summary="Restore a soft-deleted client",
)
async def restore_client(client_id: UUID, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    return answer(await services.clients.restore(client_id, caller, answer.idempotency))
