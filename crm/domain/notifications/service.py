"""Notification use cases over HTTP: submit one (admins, managers and the services calling with their
tokens), read one, list them."""

from __future__ import annotations

from uuid import UUID

from crm.domain.access import Access, require_privileged
from crm.domain.caller import Caller
from crm.domain.errors import DuplicateNotification, FieldProblem, NotificationNotFound, RuleViolation
from crm.domain.idempotency import IdempotentRequest
from crm.domain.notifications.intake import NotificationIntake, targets
from crm.domain.notifications.records import (
    Notification,
    NotificationAccepted,
    NotificationFilter,
    NotificationSummary,
)
from crm.domain.notifications.repository import NotificationReader
from crm.domain.notifications.schemas import NotificationRequest, is_system_key
from crm.domain.pagination import Page
from crm.domain.uow import UnitOfWorkFactory


def refuse_unsendable(request: NotificationRequest) -> None:
    """What a client may not ask for: a key of the service's own notifications, or nothing to deliver."""
    if request.deduplication_key is not None and is_system_key(request.deduplication_key):
        raise RuleViolation(
            "This deduplication_key is of the kind the service gives its own notifications.",
            errors=[FieldProblem("deduplication_key", "must not start with an occasion's or 'inbound' and ':'")],
        )
    if not targets(request):
        raise RuleViolation(
            "Nothing to deliver: the staff are reached on the stream (sse) only.",
            errors=[FieldProblem("channel_overrides", "must include sse when there are no recipients")],
        )


class NotificationService:
    def __init__(self, uow: UnitOfWorkFactory, reader: NotificationReader, intake: NotificationIntake) -> None:
        self._uow = uow
        self._reader = reader
        self._intake = intake

    async def submit(
        self, request: NotificationRequest, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> NotificationAccepted:
        """Recorded and answered at once; crm-worker delivers it after the commit."""
        require_privileged(caller, "send notifications")
        refuse_unsendable(request)
        async with self._uow(caller, idempotency) as uow:
            notification_id = await self._intake.submit_in(uow, request, caller)
            if notification_id is None:
                raise DuplicateNotification(
                    f"A notification with deduplication_key {request.deduplication_key!r} exists already.",
                    errors=[FieldProblem("deduplication_key", "already used")],
                )
            accepted = NotificationAccepted(notification_id=notification_id)
            await uow.commit(accepted)
        return accepted

    async def get(self, notification_id: UUID, caller: Caller) -> Notification:
        notification = await self._reader.get(notification_id, Access.of(caller))
        if notification is None:
            raise NotificationNotFound(f"Notification {notification_id} does not exist.")
        return notification

    async def list(self, query: NotificationFilter, caller: Caller) -> Page[NotificationSummary]:
        return await self._reader.page(query, Access.of(caller))
