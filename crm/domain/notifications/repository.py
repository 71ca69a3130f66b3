"""What the notifications module needs from storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.notifications.records import (
    DeliveryResult,
    DueDelivery,
    NewNotification,
    Notification,
    NotificationFilter,
    NotificationSummary,
    StatusChange,
)
from crm.domain.notifications.schemas import Channel
from crm.domain.notifications.templates import Template, TemplateFilter
from crm.domain.pagination import Page
from crm.domain.records import RecordRepository


class TemplateRepository(RecordRepository[Template], Protocol):
    async def find_bodies(self, key: str, channels: Sequence[Channel], locales: Sequence[str]) -> dict[Channel, str]:
        """Per channel, the body of the live active template for ``key``, in the first of ``locales`` that has
        one."""


class TemplateReader(Protocol):
    async def get(self, template_id: UUID) -> Template | None: ...

    async def page(self, query: TemplateFilter) -> Page[Template]: ...


class NotificationRepository(Protocol):
    """Writes inside a unit of work."""

    async def add_all(self, notifications: Sequence[NewNotification]) -> set[UUID]:
        """Record the notifications and their deliveries, in a statement or two whatever their number; the ids of
        those recorded (not: one whose ``deduplication_key`` exists already, or came earlier in ``notifications``)."""

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[DueDelivery]:
        """Pending deliveries due by ``now`` whose lease (if any) ran out, leased until ``lease_until``; rows
        other transactions hold are skipped."""

    async def record_results(self, results: Sequence[DeliveryResult]) -> set[UUID]:
        """Each delivery's new state and one attempt row per result, for the deliveries still pending under the
        lease they were claimed with; their ids (the others were claimed again, or settled, since)."""

    async def settle(self, notification_ids: Sequence[UUID]) -> list[StatusChange]:
        """Lock each notification, derive its status afresh from its deliveries (``notification_status``) and
        store it; the changes."""

    async def load(self, notification_id: UUID) -> Notification:
        """The whole notification, with every delivery and attempt."""

    async def prune_finished(self, before: datetime, limit: int) -> int:
        """Delete finished notifications (delivered, processed, failed) last changed before ``before``; how many."""


class NotificationReader(Protocol):
    async def get(self, notification_id: UUID, access: Access) -> Notification | None:
        """The notification if ``access`` sees it; a caller who neither sent it nor is privileged gets only
        their own deliveries and attempts."""

    async def page(self, query: NotificationFilter, access: Access) -> Page[NotificationSummary]:
        """Newest first."""
