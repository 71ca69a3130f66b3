"""HTTP routes of exports: the records of a list, as the caller sees them, as a CSV or XLSX file."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from crm.api import clients, deals
from crm.api.deps import CurrentCaller, Services
from crm.api.export_files import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, export_response
from crm.api.problems import problem_responses
from crm.domain.exports.schemas import ExportFormat, PaymentExportFilter
from crm.domain.types import Day

router = APIRouter(prefix="/api/v1")

FileFormat = Annotated[
    ExportFormat,
    Query(alias="format", description="`csv` (RFC 4180, UTF-8, streamed) or `xlsx` (one sheet)."),
]


EXPLAINED = (
    " More rows matching than the format holds (`CRM_EXPORT_MAX_ROWS`, `CRM_EXPORT_XLSX_MAX_ROWS`) is 422 "
    "`export_too_large`, before anything is sent; too many exports running at once is 503 `exports_busy`."
)


def _responses(name: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": f"The {name} as an attachment named `{name}-<UTC time>.csv` or `.xlsx`: a header row of "
            "the fields' names, then one row per record in the list's order. CSV money is an exact decimal, dates "
            "and instants ISO 8601 (instants in UTC), text starting with `=`, `+`, `-`, `@`, tab or CR is "
            "prefixed with `'` against formula injection.",
            "content": {
                CSV_MEDIA_TYPE: {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
            "headers": {
                "Content-Disposition": {
                    "description": '`attachment; filename="<name>-<YYYYMMDDTHHMMSSZ>.<format>"`',
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
        },
        **problem_responses(422, 503),
    }


@router.get(
    "/clients/export",
    tags=["clients"],
    response_class=Response,
    responses=_responses("clients"),
    summary="Export clients as CSV or XLSX",
    description="The live clients the caller sees that the list's filters select, newest first." + EXPLAINED,
)
async def export_clients(
    caller: CurrentCaller, services: Services, criteria: clients.Criteria, file_format: FileFormat = ExportFormat.CSV
) -> Response:
    export = await services.exports.clients(criteria, caller, file_format)
    return await export_response(export, services.clock.now())


@router.get(
    "/deals/export",
    tags=["deals"],
    response_class=Response,
    responses=_responses("deals"),
    summary="Export deals as CSV or XLSX",
    description="The live deals the caller sees that the list's filters select, in the list's order." + EXPLAINED,
)
async def export_deals(
    caller: CurrentCaller, services: Services, criteria: deals.Criteria, file_format: FileFormat = ExportFormat.CSV
) -> Response:
    export = await services.exports.deals(criteria, caller, file_format)
    return await export_response(export, services.clock.now())


@router.get(
    "/payments/export",
    tags=["payments"],
    response_class=Response,
    responses=_responses("payments"),
    summary="Export payments as CSV or XLSX",
    description="The live payments of the live policies the caller sees, by planned day (a policy's in sequence), "
    "each with its status as of today." + EXPLAINED,
)
async def export_payments(
    caller: CurrentCaller,
    services: Services,
    deal_id: Annotated[UUID | None, Query(description="Only the payments of this deal's policies.")] = None,
    policy_id: Annotated[UUID | None, Query(description="Only this policy's payments.")] = None,
    client_id: Annotated[UUID | None, Query(description="Only the payments of this client's policies.")] = None,
    planned_from: Annotated[Day | None, Query(description="Planned on or after this day.")] = None,
    planned_to: Annotated[Day | None, Query(description="Planned on or before this day.")] = None,
    file_format: FileFormat = ExportFormat.CSV,
) -> Response:
    query = PaymentExportFilter(
        deal_id=deal_id, policy_id=policy_id, client_id=client_id, planned_from=planned_from, planned_to=planned_to
    )
    export = await services.exports.payments(query, caller, file_format)
    return await export_response(export, services.clock.now())
