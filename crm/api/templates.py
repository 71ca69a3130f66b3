"""HTTP routes of notification templates."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import IfNoneMatch, expected_version, page_request
from crm.api.problems import problem_responses
from crm.api.responses import page_response, record_response
from crm.domain.notifications.schemas import Channel, EventKey
from crm.domain.notifications.templates import (
    Locale,
    Template,
    TemplateCreate,
    TemplateFilter,
    TemplateStatus,
    TemplateUpdate,
)
from crm.domain.pagination import Page, PageRequest

router = APIRouter(prefix="/api/v1/templates", tags=["notifications"])

ExpectedVersion = Annotated[int | None, Depends(expected_version)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Template,
    responses=problem_responses(403, 409, 422),
    summary="Create a notification template",
)
async def create_template(body: TemplateCreate, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    """Admins and managers. A body that does not compile is 422 naming `body`; a live template with the same
    (key, channel, locale) is 409 `template_conflict`. `locale` defaults to `CRM_NOTIFICATIONS_DEFAULT_LOCALE`."""
    return answer(await services.templates.create(body, caller, answer.idempotency))


@router.get("", response_model=Page[Template], responses=problem_responses(400, 422), summary="List templates")
async def list_templates(
    _: CurrentCaller,
    services: Services,
    page: Annotated[PageRequest, Depends(page_request)],
    key: Annotated[EventKey | None, Query()] = None,
    channel: Channel | None = None,
    locale: Annotated[Locale | None, Query()] = None,
    status_: Annotated[TemplateStatus | None, Query(alias="status")] = None,
) -> Response:
    """Live templates ordered by key, channel, locale; anyone signed in may read them."""
    query = TemplateFilter(key=key, channel=channel, locale=locale, status=status_, page=page)
    return page_response(await services.templates.list(query), services.cursors)


@router.get(
    "/{template_id}",
    response_model=Template,
    responses={**problem_responses(404, 422), 304: {"description": "Not modified"}},
    summary="Get a template",
)
async def get_template(
    template_id: UUID, _: CurrentCaller, services: Services, if_none_match: IfNoneMatch = None
) -> Response:
    return record_response(await services.templates.get(template_id), if_none_match=if_none_match)


@router.patch(
    "/{template_id}",
    response_model=Template,
    responses=problem_responses(403, 404, 409, 412, 422),
    summary="Change a template",
)
async def update_template(
    template_id: UUID, body: TemplateUpdate, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    return record_response(await services.templates.update(template_id, body, caller, if_match=if_match))


@router.delete(
    "/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404, 412, 422),
    summary="Soft-delete a template",
)
async def delete_template(
    template_id: UUID, caller: CurrentCaller, services: Services, if_match: ExpectedVersion
) -> Response:
    await services.templates.delete(template_id, caller, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{template_id}/restore",
    response_model=Template,
    responses=problem_responses(403, 404, 409, 422),
    summary="Restore a soft-deleted template",
)
async def restore_template(template_id: UUID, caller: CurrentCaller, services: Services, answer: Answer) -> Response:
    return answer(await services.templates.restore(template_id, caller, answer.idempotency))
