"""Whom an occasion reaches, on which channel, and the notification asked for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from crm.domain.caller import SYSTEM
from crm.domain.notifications.intake import NotificationIntake
from crm.domain.notifications.schemas import Channel, NotificationRequest, Recipient, system_key
from crm.domain.uow import UnitOfWork
from crm.domain.users.schemas import UserContacts


@dataclass(frozen=True, slots=True)
class Audience:
    recipients: list[Recipient]
    channel: Channel
    locale: str | None = None  # the person's, from their contacts: the templates' language (payload ``locale``)


def audience(user_id: UUID | None, contacts: UserContacts | None, wanted: Channel | None = None) -> Audience:
    """``user_id`` on ``wanted`` (None: the channel their contacts prefer, else sse).

    Telegram needs the user's Telegram id from their contacts: without one, the notification goes on sse
    instead (docs/reminders.md), never nowhere. Nobody (``user_id`` None) means the staff, on sse.
    """
    if user_id is None:
        return Audience([], Channel.SSE)
    channel = wanted or (contacts.preferred_channel if contacts else Channel.SSE)
    locale = contacts.locale if contacts else None
    if channel == Channel.TELEGRAM and contacts is not None and contacts.telegram_id is not None:
        return Audience([Recipient(user_id=user_id, telegram_id=contacts.telegram_id)], Channel.TELEGRAM, locale)
    return Audience([Recipient(user_id=user_id)], Channel.SSE, locale)


def notification(occasion: str, to: Audience, payload: Mapping[str, Any], *occurrence: object) -> NotificationRequest:
    """The notification of ``occasion``; ``occurrence`` (what, when) makes its key, so it fires once."""
    return NotificationRequest(
        event_key=occasion,
        recipients=to.recipients,
        payload=dict(payload) if to.locale is None else {**payload, "locale": to.locale},
        channel_overrides=[to.channel],
        deduplication_key=system_key(occasion, *occurrence),
    )


async def contacts_of(uow: UnitOfWork, user_ids: Iterable[UUID | None]) -> dict[UUID, UserContacts]:
    return await uow.user_contacts.of_users({user_id for user_id in user_ids if user_id is not None})


async def submit(intake: NotificationIntake, uow: UnitOfWork, requests: Iterable[NotificationRequest]) -> int:
    """Hand each request to the intake inside ``uow`` (committed with the occasion's own changes); how many were
    taken. A request whose deduplication key is known already is refused by the intake: that occasion fired."""
    taken = await intake.submit_all_in(uow, list(requests), SYSTEM)
    return sum(notification_id is not None for notification_id in taken)
