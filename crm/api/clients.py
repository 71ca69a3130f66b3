"""HTTP routes of the clients module."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.convertors import Convertor, register_url_convertor

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import json_response, page_response, record_response
from crm.domain.clients.imports import IMPORTED, ClientImportReport
from crm.domain.clients.schemas import Client, ClientCreate, ClientFilter, ClientStatus, ClientUpdate
from crm.domain.errors import DomainError, FieldProblem
from crm.domain.pagination import Page, PageRequest
from crm.domain.types import SearchTerm

PREFIX = "/api/v1/clients"
IMPORT_PATH = f"{PREFIX}/import"
router = APIRouter(prefix=PREFIX, tags=["clients"])


class ClientIdSegment(Convertor[str]):
    """``/clients/{client_id}`` without ``/clients/export`` and ``/clients/import``, resources of their own: so
    ``PATCH /clients/export`` is a 405 naming GET, not a client id that fails validation."""

    regex = "(?!(export|import)$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("client_id", ClientIdSegment())

ExpectedVersion = Annotated[int | None, Depends(expected_version)]


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


CSV_EXAMPLE = "name,email,phone,status\r\nAcme Logistics LLC,office@acme.example,+7 495 123-45-67,active\r\n"
IMPORT_BODY = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {
                "type": "string",
                "minLength": 1,
                "description": "RFC 4180 CSV in UTF-8 (a byte order mark is allowed): a header naming client fields "
                f"({', '.join(IMPORTED)}; the read-only columns of a clients export are allowed and ignored), then "
                "one client per row. An empty cell is an absent value.",
            },
            "example": CSV_EXAMPLE,
        }
    },
}


def _require_csv(content_type: str | None) -> None:
    media_type, *parameters = (part.strip().lower() for part in (content_type or "").split(";"))
    charsets = {value.strip('"') for name, _, value in (p.partition("=") for p in parameters) if name == "charset"}
    if media_type != "text/csv" or not charsets <= {"utf-8", "utf8"}:
        raise UnsupportedMediaType(
            "The import takes text/csv in UTF-8.",
            errors=[FieldProblem("Content-Type", "must be text/csv (charset utf-8, if any)")],
        )


async def client_criteria(
    search: Annotated[SearchTerm | None, Query(description="Part of the name, email or phone.")] = None,
    status_: Annotated[ClientStatus | None, Query(alias="status")] = None,
    owner_id: UUID | None = None,
) -> ClientFilter:
    return ClientFilter(search=search, status=status_, owner_id=owner_id)


Criteria = Annotated[ClientFilter, Depends(client_criteria)]


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
    criteria: Criteria,
    page: Annotated[PageRequest, Depends(page_request)],
) -> Response:
    """Newest first; live clients only."""
    query = criteria.model_copy(update={"page": page})
    return page_response(await services.clients.list(query, caller), services.cursors)


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientImportReport,
    responses={
        200: {"model": ClientImportReport, "description": "Dry run: every row is valid; nothing was written."},
        **problem_responses(403, 415, 422),
    },
    summary="Create clients from a CSV file, all or none",
    openapi_extra={"requestBody": IMPORT_BODY},
)
async def import_clients(
    request: Request,
    caller: CurrentCaller,
    services: Services,
    answer: Answer,
    dry_run: Annotated[bool, Query(description="Check every row and write nothing.")] = False,
) -> Response:
    """Each row is checked as `POST /clients` checks its body (the caller's right to assign `owner_id` included).
    One bad row refuses the file: 422 `invalid_rows` lists every problem as `{row, field, message}` (`row` is
    the line, the header being line 1), and nothing is written. All good: one transaction creates every client,
    each with its `client.created` event, and answers 201 with their ids in row order. A file that cannot be read
    (not UTF-8, broken quoting, an unknown or repeated column, no `name` column, no rows, more rows than the
    limit) is 422 `invalid_csv`; a body other than `text/csv` is 415. `dry_run=true` answers the same refusals,
    or 200 when the file would be imported."""
    _require_csv(request.headers.get("content-type"))
    body = await request.body()
    if dry_run:
        return json_response(await services.clients.import_csv(body, caller, dry_run=True))
    return answer(await services.clients.import_csv(body, caller, dry_run=False, idempotency=answer.idempotency))


@router.get(
    "/{client_id:client_id}",
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
    "/{client_id:client_id}",
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
    "/{client_id:client_id}",
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
