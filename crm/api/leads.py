"""HTTP routes of lead intake's directory: operators, sources and each source's operator weights."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Response, status
from pydantic import TypeAdapter

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import NOT_MODIFIED, page_response, record_response
from crm.domain.leads.schemas import (
    Operator,
    OperatorCreate,
    OperatorFilter,
    OperatorUpdate,
    Source,
    SourceChannel,
    SourceCreate,
    SourceFilter,
    SourceUpdate,
    SourceWeight,
    SourceWeights,
)
from crm.domain.pagination import Page, PageRequest
from crm.domain.types import SearchTerm

operators = APIRouter(prefix="/api/v1/operators", tags=["lead intake"])
sources = APIRouter(prefix="/api/v1/sources", tags=["lead intake"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]
WEIGHT_LIST = TypeAdapter(list[SourceWeight])


@operators.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Operator,
    responses=problem_responses(403, 409, 422),
    summary="Create an operator",
)
async def create_operator(body: OperatorCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    """Admins and managers. A user who is a live operator already is 409 `operator_user_conflict`."""
    return answer(await services.operators.create(body, caller, answer.idempotency))


@operators.get("", response_model=Page[Operator], responses=problem_responses(400, 422), summary="List operators")
async def list_operators(
    _: CurrentCaller,
    services: Services,
    page: Annotated[PageRequest, Depends(page_request)],
    active: bool | None = None,
    search: Annotated[SearchTerm | None, Query(description="Part of the name.")] = None,
) -> Response:
    """Live operators by name; anyone signed in may read them."""
    query = OperatorFilter(active=active, search=search, page=page)
    return page_response(await services.operators.list(query), services.cursors)


@operators.get(
    "/{operator_id}",
    response_model=Operator,
    responses={**problem_responses(404, 422), **NOT_MODIFIED},
    summary="Get an operator",
)
async def get_operator(
    operator_id: UUID, _: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    return record_response(await services.operators.get(operator_id), if_none_match=if_none_match)


@operators.patch(
    "/{operator_id}",
    response_model=Operator,
    responses=problem_responses(403, 404, 409, 412, 422),
    summary="Change an operator",
)
async def update_operator(
    operator_id: UUID, body: OperatorUpdate, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    """`absences` replaces the whole list; `working_hours: null` makes the operator always present."""
    return record_response(await services.operators.update(operator_id, body, caller, if_match=if_match))


@operators.delete(
    "/{operator_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 412, 422),
    summary="Soft-delete an operator",
)
async def delete_operator(
    operator_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    await services.operators.delete(operator_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@operators.post(
    "/{operator_id}/restore",
    response_model=Operator,
    responses=problem_responses(403, 404, 409, 422),
    summary="Restore a soft-deleted operator",
)
async def restore_operator(operator_id: UUID, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    return answer(await services.operators.restore(operator_id, caller, answer.idempotency))


@sources.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Source,
    responses=problem_responses(403, 409, 422),
    summary="Create a source",
)
async def create_source(body: SourceCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    """Admins and managers. A name a live source has is 409 `source_name_conflict`."""
    return answer(await services.sources.create(body, caller, answer.idempotency))


@sources.get("", response_model=Page[Source], responses=problem_responses(400, 422), summary="List sources")
async def list_sources(
    _: CurrentCaller,
    services: Services,
    page: Annotated[PageRequest, Depends(page_request)],
    active: bool | None = None,
    channel: SourceChannel | None = None,
    search: Annotated[SearchTerm | None, Query(description="Part of the name.")] = None,
) -> Response:
    """Live sources by name; anyone signed in may read them."""
    query = SourceFilter(active=active, channel=channel, search=search, page=page)
    return page_response(await services.sources.list(query), services.cursors)


@sources.get(
    "/{source_id}",
    response_model=Source,
    responses={**problem_responses(404, 422), **NOT_MODIFIED},
    summary="Get a source",
)
async def get_source(
    source_id: UUID, _: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    return record_response(await services.sources.get(source_id), if_none_match=if_none_match)


@sources.patch(
    "/{source_id}",
    response_model=Source,
    responses=problem_responses(403, 404, 409, 412, 422),
    summary="Change a source",
)
async def update_source(
    source_id: UUID, body: SourceUpdate, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    return record_response(await services.sources.update(source_id, body, caller, if_match=if_match))


@sources.delete(
    "/{source_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 412, 422),
    summary="Soft-delete a source",
)
async def delete_source(
    source_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    await services.sources.delete(source_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@sources.post(
    "/{source_id}/restore",
    response_model=Source,
    responses=problem_responses(403, 404, 409, 422),
    summary="Restore a soft-deleted source",
)
async def restore_source(source_id: UUID, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    return answer(await services.sources.restore(source_id, caller, answer.idempotency))


@sources.get(
    "/{source_id}/weights",
    response_model=list[SourceWeight],
    responses=problem_responses(404, 422),
    summary="A source's operator weights",
)
async def get_source_weights(source_id: UUID, _: CurrentCaller, services: Services) -> Response:
    """The weights of the source's live operators, by operator id."""
    return _weights_response(await services.sources.weights(source_id))


@sources.put(
    "/{source_id}/weights",
    response_model=list[SourceWeight],
    responses=problem_responses(403, 404, 422),
    summary="Replace a source's operator weights",
)
async def replace_source_weights(
    source_id: UUID,
    body: Annotated[
        SourceWeights, Body(examples=[[{"operator_id": "0b7e4c2a-1d3f-4a5b-8c9d-0e1f2a3b4c5d", "weight": 3}]])
    ],
    caller: CurrentCaller,
    services: Services,
) -> Response:
    """Admins and managers. The list becomes the source's weights in one transaction, or nothing changes: an
    operator named twice is 422, one that does not exist 404 `operator_not_found`, each naming `<index>.operator_id`;
    an unknown source is 404 `source_not_found`. An empty list removes every weight."""
    return _weights_response(await services.sources.replace_weights(source_id, body, caller))


def _weights_response(weights: list[SourceWeight]) -> Response:
    return Response(WEIGHT_LIST.dump_json(weights), media_type="application/json")
