"""A recorded notification as it is served: its deliveries (one per recipient and channel), every attempt, and
the one rule that derives the notification's status from its deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.events import DomainEvent
from crm.domain.notifications.schemas import Channel
from crm.domain.pagination import PageRequest


class NotificationStatus(StrEnum):
    PENDING = "pending"  # recorded; no worker has taken any of its deliveries yet
    QUEUED = "queued"  # a worker took a delivery: being sent, or waiting for its next try
    PROCESSED = "processed"  # every delivery finished, some delivered and some failed
    DELIVERED = "delivered"  # every delivery confirmed
    FAILED = "failed"  # every delivery failed


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # to be sent (first try, or again after a failed one)
    DELIVERED = "delivered"
    FAILED = "failed"  # out of attempts, or refused for good


FINAL_STATUSES = frozenset({NotificationStatus.PROCESSED, NotificationStatus.DELIVERED, NotificationStatus.FAILED})


@dataclass(frozen=True, slots=True)
class DeliveryState:
    status: DeliveryStatus
    taken: bool  # a worker has claimed it at least once


def notification_status(deliveries: Iterable[DeliveryState]) -> NotificationStatus:
    """The notification's status from its deliveries; the only place it is decided."""
    states = list(deliveries)
    if not states:
        # Nothing to send to anyone (no channel applied): finished as it was recorded.
        return NotificationStatus.PROCESSED
    if any(state.status is DeliveryStatus.PENDING for state in states):
        return NotificationStatus.QUEUED if any(state.taken for state in states) else NotificationStatus.PENDING
    if all(state.status is DeliveryStatus.DELIVERED for state in states):
        return NotificationStatus.DELIVERED
    if all(state.status is DeliveryStatus.FAILED for state in states):
        return NotificationStatus.FAILED
    return NotificationStatus.PROCESSED


class RecipientView(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: UUID | None = None
    telegram_id: str | None = None


class Delivery(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    channel: Channel
    recipient: RecipientView | None = Field(description="None: the staff (admins and managers on the stream).")
    text: str = Field(description="What is sent: the rendered template, or a summary of the event.")
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class Attempt(BaseModel):
    model_config = ConfigDict(frozen=True)

    channel: Channel
    recipient: RecipientView | None
    status: DeliveryStatus = Field(description="`delivered` or `failed`.")
    error: str | None
    at: datetime


class Notification(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    event_key: str
    status: NotificationStatus
    payload: dict[str, Any]
    deduplication_key: str | None
    created_by_id: UUID | None
    created_at: datetime
    updated_at: datetime
    deliveries: list[Delivery] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)


class NotificationSummary(BaseModel):
    """A notification in a list (its deliveries and attempts: ``GET /notifications/{id}``)."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    event_key: str
    status: NotificationStatus
    deduplication_key: str | None
    created_by_id: UUID | None
    created_at: datetime
    updated_at: datetime


class NotificationAccepted(BaseModel):
    notification_id: UUID


class NotificationFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    statuses: frozenset[NotificationStatus] | None = None
    recipient_id: UUID | None = None
    page: PageRequest = PageRequest()


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery as the intake records it."""

    channel: Channel
    user_id: UUID | None
    telegram_id: str | None
    text: str
    refusal: str | None = None  # set: recorded failed at once (nothing to send it to)

    @property
    def status(self) -> DeliveryStatus:
        return DeliveryStatus.FAILED if self.refusal else DeliveryStatus.PENDING


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A notification as the intake records it, with its deliveries."""

    id: UUID
    values: dict[str, Any]  # event_key, payload, recipients, channel_overrides, deduplication_key, created_by_id
    deliveries: list[NewDelivery]
    status: NotificationStatus


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery a worker claimed: what a channel needs to send it."""

    id: UUID
    notification_id: UUID
    event_key: str
    channel: Channel
    user_id: UUID | None
    telegram_id: str | None
    text: str
    attempts: int  # tries before this one
    # The claim's lease, which fences its result: a worker whose lease ran out (and so was claimed again by another)
    # finds it changed, and its late result is not written over the newer claim's.
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What a channel said of one try: delivered, or an error with when (if at all) to try again."""

    delivered: bool
    error: str | None = None
    retry_after: float | None = None  # the channel asked for this wait (Telegram's 429)
    permanent: bool = False  # trying again cannot help

    @classmethod
    def ok(cls) -> SendOutcome:
        return cls(delivered=True)

    @classmethod
    def failed(cls, error: str, *, retry_after: float | None = None, permanent: bool = False) -> SendOutcome:
        return cls(delivered=False, error=error, retry_after=retry_after, permanent=permanent)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What the worker writes after a try."""

    delivery: DueDelivery
    outcome: SendOutcome
    at: datetime
    status: DeliveryStatus
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class StatusChange:
    notification_id: UUID
    old: NotificationStatus
    new: NotificationStatus


# Events when a notification reaches these states.
OUTCOME_EVENTS = {
    NotificationStatus.DELIVERED: "notification.delivered",
    NotificationStatus.FAILED: "notification.failed",
}


def outcome_event(notification: Notification, at: datetime) -> DomainEvent:
    """``notification.delivered`` or ``notification.failed`` of a notification that reached that state: by crm-worker
    after its last try, or by the intake when every delivery was refused at once."""
    return DomainEvent(
        OUTCOME_EVENTS[notification.status],
        notification.id,
        {
            "notification_id": str(notification.id),
            "event_key": notification.event_key,
            "status": notification.status.value,
            "deliveries": [
                {
                    "channel": d.channel.value,
                    "user_id": None if d.recipient is None or d.recipient.user_id is None else str(d.recipient.user_id),
                    "telegram_id": None if d.recipient is None else d.recipient.telegram_id,
                    "status": d.status.value,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                }
                for d in notification.deliveries
            ],
        },
        at,
    )
