"""The one way a notification comes into being, whoever asks for it (HTTP, a crm-worker occasion, an inbound
event): recorded in the asker's own transaction, delivered by crm-worker after it commits."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from crm.domain.caller import Caller
from crm.domain.notifications.schemas import NotificationRequest
from crm.domain.uow import UnitOfWork


class NotificationIntake(Protocol):
    async def submit_in(self, uow: UnitOfWork, request: NotificationRequest, actor: Caller) -> UUID | None:
        """Record ``request``, its recipients and its rendered text inside ``uow``'s open transaction (the
        asker commits; nothing is sent before). The id of the new notification, or None when a notification
        with the same ``deduplication_key`` exists already (nothing recorded: the occasion fired before)."""
        ...
