"""RFC 9457 problem details: every error answer of the API has this shape."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

PROBLEM_CONTENT_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(description="The invalid input: a body field, query parameter, path part or header.")
    message: str
    row: int | None = Field(
        default=None, description="Only for an uploaded file: the line the problem is on (a CSV's header is line 1)."
    )


class Problem(BaseModel):
    type: str = Field(description="URI naming the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path.")
    code: str = Field(description="Stable machine-readable error code, e.g. `deal_not_found`.")
    errors: list[FieldError] = Field(default_factory=list)


def problem_type(code: str) -> str:
    return f"urn:crm:problem:{code}"


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None,
    instance: str | None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "errors": errors or [],
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem answers a route gives beyond those its dependencies give
    (``crm.api.openapi`` adds those, the ``Problem`` schema and the descriptions)."""
    return {
        status: {
            "description": "Problem details",
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
