"""The one way a notification comes into being, whoever asks for it (HTTP, a crm-worker occasion, an inbound
event): recorded in the asker's own transaction, delivered by crm-worker after it commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.events import DomainEvent
from crm.domain.notifications.records import (
    DeliveryState,
    NewDelivery,
    NewNotification,
    NotificationStatus,
    notification_status,
    outcome_event,
)
from crm.domain.notifications.rendering import TemplateRenderer, summary
from crm.domain.notifications.schemas import Channel, NotificationRequest
from crm.domain.uow import UnitOfWork

NO_TELEGRAM_ID = "the recipient has no telegram_id"


class NotificationIntake(Protocol):
    async def submit_in(self, uow: UnitOfWork, request: NotificationRequest, actor: Caller) -> UUID | None:
        """Record ``request``, its recipients and its rendered text inside ``uow``'s open transaction (the
        asker commits; nothing is sent before). The id of the new notification, or None when a notification
        with the same ``deduplication_key`` exists already (nothing recorded: the occasion fired before)."""
        ...

    async def submit_all_in(
        self, uow: UnitOfWork, requests: Sequence[NotificationRequest], actor: Caller
    ) -> list[UUID | None]:
        """``submit_in`` for each of ``requests``, in a few statements whatever their number; for each, the id or
        None (a deduplication key seen before, or earlier in ``requests``)."""
        ...


def targets(request: NotificationRequest) -> list[tuple[Channel, UUID | None, str | None]]:
    """(channel, user id, telegram id) of each delivery the request asks for, each once.

    A recipient gets ``channel_overrides``, or by default Telegram when it has a Telegram id and the stream when
    it has a user id. No recipient at all: the staff, on the stream only.
    """
    wanted = request.channel_overrides
    if not request.recipients:
        return [(Channel.SSE, None, None)] if wanted is None or Channel.SSE in wanted else []
    found: dict[tuple[Channel, UUID | None, str | None], None] = {}
    for recipient in request.recipients:
        channels = wanted
        if channels is None:
            channels = [Channel.TELEGRAM] if recipient.telegram_id else []
            channels += [Channel.SSE] if recipient.user_id else []
        for channel in channels:
            found[(channel, recipient.user_id, recipient.telegram_id)] = None
    return list(found)


def refusal(channel: Channel, user_id: UUID | None, telegram_id: str | None) -> str | None:
    """Why a delivery cannot be sent at all, if so. On the stream, a delivery to no user (the staff, or a
    Telegram chat nobody in the CRM is named for, as an inbound event's) is shown to admins and managers."""
    if channel is Channel.TELEGRAM and telegram_id is None:
        return NO_TELEGRAM_ID
    return None


class NotificationRecorder:
    """``NotificationIntake`` on the unit of work's repositories: the template of each channel (in the payload's
    ``locale``, else the default locale) is rendered once, at submission."""

    def __init__(self, renderer: TemplateRenderer, clock: Clock, default_locale: str) -> None:
        self._renderer = renderer
        self._clock = clock
        self._default_locale = default_locale

    async def submit_in(self, uow: UnitOfWork, request: NotificationRequest, actor: Caller) -> UUID | None:
        return (await self.submit_all_in(uow, [request], actor))[0]

    async def submit_all_in(
        self, uow: UnitOfWork, requests: Sequence[NotificationRequest], actor: Caller
    ) -> list[UUID | None]:
        # Template bodies are read once per event key and locales: a batch of one kind (inbound events, a job's
        # occasions) reads them once.
        bodies: dict[tuple[str, tuple[str, ...]], dict[Channel, str]] = {}
        news = []
        for request in requests:
            locales = tuple(self._locales(request.payload))
            if (request.event_key, locales) not in bodies:
                found = await uow.templates.find_bodies(request.event_key, list(Channel), list(locales))
                bodies[request.event_key, locales] = found
            news.append(self._notification(request, bodies[request.event_key, locales], actor))
        recorded = await uow.notifications.add_all(news)
        now = self._clock.now()
        for request, new in zip(requests, news, strict=True):
            if new.id in recorded:
                uow.record(_queued_event(new, request, now))
                if new.status is NotificationStatus.FAILED:  # every delivery refused at once: it ends now
                    uow.record(outcome_event(await uow.notifications.load(new.id), now))
        return [new.id if new.id in recorded else None for new in news]

    def _notification(self, request: NotificationRequest, bodies: dict[Channel, str], actor: Caller) -> NewNotification:
        wanted = targets(request)
        texts = {channel: self._text(bodies.get(channel), request) for channel in {c for c, _, _ in wanted}}
        deliveries = [
            NewDelivery(channel, user_id, telegram_id, texts[channel], refusal(channel, user_id, telegram_id))
            for channel, user_id, telegram_id in wanted
        ]
        values = {
            "event_key": request.event_key,
            "payload": request.payload,
            "recipients": [r.model_dump(mode="json") for r in request.recipients],
            "channel_overrides": None if request.channel_overrides is None else list(request.channel_overrides),
            "deduplication_key": request.deduplication_key,
            "created_by_id": actor.actor_id,
        }
        status = notification_status(DeliveryState(d.status, taken=False) for d in deliveries)
        return NewNotification(uuid4(), values, deliveries, status)

    def _locales(self, payload: dict[str, Any]) -> list[str]:
        asked = payload.get("locale")
        if isinstance(asked, str) and asked and asked != self._default_locale:
            return [asked, self._default_locale]
        return [self._default_locale]

    def _text(self, body: str | None, request: NotificationRequest) -> str:
        rendered = None if body is None else self._renderer.render(body, request.payload)
        return rendered if rendered else summary(request.event_key, request.payload, self._clock.local_now())


def _queued_event(new: NewNotification, request: NotificationRequest, at: datetime) -> DomainEvent:
    return DomainEvent(
        "notification.queued",
        new.id,
        {
            "notification_id": str(new.id),
            "event_key": request.event_key,
            "status": new.status.value,
            "deduplication_key": request.deduplication_key,
            "deliveries": [
                {
                    "channel": d.channel.value,
                    "user_id": None if d.user_id is None else str(d.user_id),
                    "telegram_id": d.telegram_id,
                }
                for d in new.deliveries
            ],
        },
        at,
    )
