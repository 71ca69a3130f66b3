"""HTTP routes of the users module: a user's contacts (how occasions reach them)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response

from crm.api.deps import CurrentCaller, Services
from crm.api.etags import etag_of, matches_none
from crm.api.params import IfNoneMatch, expected_version
from crm.api.problems import problem_responses
from crm.api.responses import json_response
from crm.domain.users.schemas import UserContacts, UserContactsPut

router = APIRouter(prefix="/api/v1/users", tags=["users"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]


def _contacts_response(contacts: UserContacts, *, status_code: int = 200, if_none_match: str | None = None) -> Response:
    etag = etag_of(contacts.version)
    if matches_none(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return json_response(contacts, status_code=status_code, headers={"ETag": etag})


@router.get(
    "/{user_id}/contacts",
    response_model=UserContacts,
    responses={**problem_responses(403, 404, 422), 304: {"description": "Not modified"}},
    summary="Get a user's contacts",
)
async def get_contacts(
    user_id: UUID, caller: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    """A user reads their own; admins and managers anyone's (403 for anyone else). A user who never set them has
    none: 404 `contacts_not_found` (occasions then reach them on `sse`)."""
    contacts = await services.user_contacts.get(user_id, caller)
    return _contacts_response(contacts, if_none_match=if_none_match)


@router.put(
    "/{user_id}/contacts",
    response_model=UserContacts,
    status_code=200,
    responses={
        **problem_responses(403, 412, 422),
        201: {"description": "Created: the user had no contacts", "model": UserContacts},
    },
    summary="Set a user's contacts",
)
async def put_contacts(
    user_id: UUID, body: UserContactsPut, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    """Replaces the whole record (absent fields take their defaults), creating it (201) if the user had none.
    A user sets their own; admins anyone's (403 for anyone else). `If-Match` with the `ETag` guards against a
    concurrent change (412), and fails on a user without contacts. `preferred_channel: telegram` needs a
    `telegram_id` (422 `telegram_id_required`)."""
    contacts, created = await services.user_contacts.put(user_id, body, caller, if_match=if_match)
    return _contacts_response(contacts, status_code=201 if created else 200)
