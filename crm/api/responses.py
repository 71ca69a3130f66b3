"""Answers serialized straight from the models: the routes' hot path skips a second validation pass."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from crm.api.cursors import CursorSigner
from crm.api.etags import etag_of, matches_none
from crm.domain.pagination import Page
from crm.domain.records import Record


def json_response(model: BaseModel, *, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``model`` as JSON. Routes still declare ``response_model`` for the OpenAPI document."""
    return Response(
        model.__pydantic_serializer__.to_json(model),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )


def record_response(
    record: Record, *, status_code: int = 200, location: str | None = None, if_none_match: str | None = None
) -> Response:
    """A record with its version (and its derived state, if any) as ``ETag``, and ``Location`` when it was
    just created; 304 without a body when ``If-None-Match`` names the entity the caller already has."""
    etag = etag_of(record.version, record.derived_state())
    headers = {"ETag": etag}
    if matches_none(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    if location is not None:
        headers["Location"] = location
    return json_response(record, status_code=status_code, headers=headers)


def post_response(result: BaseModel, *, status_code: int, path: str) -> Response:
    """How every POST answers: its result as JSON; a record with its ``ETag``, and a created one (201) with
    its ``Location`` under the collection it was posted to."""
    if not isinstance(result, Record):
        return json_response(result, status_code=status_code)
    location = f"{path}/{result.id}" if status_code == 201 else None
    return record_response(result, status_code=status_code, location=location)


def page_response(page: Page[Any], cursors: CursorSigner) -> Response:
    """A page of a list, its ``next_cursor`` signed so that only cursors this service issued come back."""
    if page.next_cursor is not None:
        page = page.model_copy(update={"next_cursor": cursors.sign(page.next_cursor)})
    return json_response(page)


# The OpenAPI entry of a conditional GET's answer when the caller's copy is current (``If-None-Match``).
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified"}}
