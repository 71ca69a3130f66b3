"""HTTP routes of notifications: submit one for delivery, read one with its attempts, list them."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import page_request
from crm.api.problems import problem_responses
from crm.api.responses import json_response, page_response
from crm.domain.notifications.records import (
    Notification,
    NotificationAccepted,
    NotificationFilter,
    NotificationStatus,
    NotificationSummary,
)
from crm.domain.notifications.schemas import NotificationRequest
from crm.domain.pagination import Page, PageRequest

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=NotificationAccepted,
    responses=problem_responses(403, 409, 422),
    summary="Submit a notification for delivery",
)
async def submit_notification(
    body: NotificationRequest, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """Admins and managers (services call with such tokens; anyone else: 403). The notification, its recipients
    and its text (the template of `event_key` for each channel, rendered with `payload`) are recorded and the
    answer is given at once; crm-worker delivers it. Fields may be spelled in camelCase. A `deduplication_key`
    used before is 409 `duplicate_notification`. No recipients: for the staff, on the notifications stream."""
    return answer(await services.notifications.submit(body, caller, answer.idempotency))


@router.get(
    "",
    response_model=Page[NotificationSummary],
    responses=problem_responses(400, 422),
    summary="List notifications",
)
async def list_notifications(
    caller: CurrentCaller,
    services: Services,
    page: Annotated[PageRequest, Depends(page_request)],
    status_: Annotated[list[NotificationStatus] | None, Query(alias="status", description="Repeatable.")] = None,
    recipient_id: Annotated[UUID | None, Query(description="Only those addressed to this user.")] = None,
) -> Response:
    """Newest first. Admins and managers see every notification; anyone else those they sent and those
    addressed to them."""
    query = NotificationFilter(statuses=frozenset(status_) if status_ else None, recipient_id=recipient_id, page=page)
    return page_response(await services.notifications.list(query, caller), services.cursors)


@router.get(
    "/{notification_id}",
    response_model=Notification,
    responses=problem_responses(404, 422),
    summary="Get a notification, its deliveries and attempts",
)
async def get_notification(notification_id: UUID, caller: CurrentCaller, services: Services) -> Response:
    """A recipient who did not send it sees only the deliveries and attempts addressed to them."""
    return json_response(await services.notifications.get(notification_id, caller))
