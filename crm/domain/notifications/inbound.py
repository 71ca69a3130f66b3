"""Inbound events: CloudEvents other systems send us, over RabbitMQ or HTTP, turned into notifications.

Both entries take one path (``InboundEventService.journal``): the events are journaled in one transaction,
deduplicated by their CloudEvent ``id`` (a repeated id is answered as accepted and not processed again), and
each new one is handed to the notifications intake in that same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol
from uuid import UUID

from pydantic import BaseModel, Field, ValidationError

from crm.domain.caller import SYSTEM, Caller
from crm.domain.errors import FieldProblem, Forbidden, RuleViolation
from crm.domain.idempotency import IdempotentRequest
from crm.domain.notifications.inbound_repository import InboundEvent, Transport
from crm.domain.notifications.intake import NotificationIntake
from crm.domain.notifications.schemas import INBOUND, Channel, NotificationRequest, Recipient, system_key
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory


class InvalidInboundEvent(RuleViolation):
    """Not a CloudEvent this service can take: not JSON, a required attribute missing or invalid, ``data`` not an
    object, a ``chatId`` that names no Telegram chat. ``errors`` names the field."""

    code = "validation_error"
    title = "Invalid CloudEvent"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}", errors=[FieldProblem(field_name, message)])
        self.field = field_name
        self.reason = message


class CloudEventReader(Protocol):
    def read(self, body: bytes, headers: Mapping[str, str], transport: Transport) -> InboundEvent:
        """The event in ``body`` (structured mode) or in ``headers`` + ``body`` (binary mode, ``ce-*`` headers);
        raises ``InvalidInboundEvent`` naming the field that is wrong."""
        ...


class InboundAccepted(BaseModel):
    """The event was taken: journaled and handed on now, or (``duplicate``) already before, under its id."""

    event_id: str = Field(description="The CloudEvent `id`.")
    duplicate: bool = Field(description="True when an event with this id was received before: not processed again.")


def notification_request(event: InboundEvent) -> NotificationRequest:
    """What the notifications intake is asked for: ``data.chatId`` names a Telegram chat to send to (with the
    person of ``data.userId`` when it is a UUID); without one, the staff on the notifications stream."""
    recipients: list[Recipient] = []
    chat_id = event.data.get("chatId")
    if isinstance(chat_id, float) and chat_id.is_integer():  # JSON has one number type: 42.0 is 42
        chat_id = int(chat_id)
    if chat_id is not None and not isinstance(chat_id, bool) and isinstance(chat_id, int | str):
        user_id = _uuid_or_none(event.data.get("userId"))
        try:
            recipients.append(Recipient(telegram_id=str(chat_id), user_id=user_id))
        except ValidationError as exc:
            raise InvalidInboundEvent("data.chatId", _first_message(exc)) from None
    elif chat_id is not None:
        raise InvalidInboundEvent("data.chatId", "must be a Telegram chat id (a number) or an @channel name")
    channels = [Channel.TELEGRAM, Channel.SSE] if recipients else [Channel.SSE]
    try:
        return NotificationRequest(
            event_key=event.type,
            recipients=recipients,
            payload=event.data,
            channel_overrides=channels,
            deduplication_key=system_key(INBOUND, event.id),
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        location = str(error["loc"][0]) if error["loc"] else ""
        field_name = {"event_key": "type", "payload": "data", "deduplication_key": "id"}.get(location, "data")
        raise InvalidInboundEvent(field_name, error["msg"]) from None


def _uuid_or_none(value: object) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value)
    except ValueError:
        return None


def _first_message(exc: ValidationError) -> str:
    return str(exc.errors()[0]["msg"])


class InboundEventService:
    """Journals inbound events and hands each new one to the notifications intake, in one transaction."""

    def __init__(self, uow: UnitOfWorkFactory, reader: CloudEventReader, intake: NotificationIntake) -> None:
        self._uow = uow
        self._reader = reader
        self._intake = intake

    def read(self, body: bytes, headers: Mapping[str, str], transport: Transport) -> InboundEvent:
        """The event, checked as far as it can be before any transaction: the CloudEvent itself and the
        notification it asks for. Raises ``InvalidInboundEvent``."""
        event = self._reader.read(body, headers, transport)
        notification_request(event)
        return event

    async def receive(
        self,
        body: bytes,
        headers: Mapping[str, str],
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
    ) -> InboundAccepted:
        """``POST /api/notifications/events``: admins and managers (services' tokens carry those roles)."""
        if not caller.is_privileged:
            raise Forbidden("Only admins and managers (and services with their roles) may post events.")
        event = self.read(body, headers, Transport.HTTP)
        async with self._uow(caller, idempotency) as uow:
            (new,) = await self._journal_in(uow, [event], caller)
            accepted = InboundAccepted(event_id=event.id, duplicate=not new)
            await uow.commit(accepted)
        return accepted

    async def journal(self, events: Sequence[InboundEvent], actor: Caller = SYSTEM) -> list[bool]:
        """Journal ``events`` and hand the new ones on, all in one transaction; for each event, whether it was
        new (False: its id was received before, or earlier in ``events``). Raises whatever the database or the
        intake raised, with nothing kept."""
        async with self._uow(actor) as uow:
            outcomes = await self._journal_in(uow, events, actor)
            await uow.commit()
        return outcomes

    async def _journal_in(self, uow: UnitOfWork, events: Sequence[InboundEvent], actor: Caller) -> list[bool]:
        new_ids = await uow.inbound_events.record_new(events)
        outcomes: list[bool] = []
        requests = []
        for event in events:
            new = event.id in new_ids
            new_ids.discard(event.id)  # the same id twice in one batch: the first one counts
            if new:
                requests.append(notification_request(event))
            outcomes.append(new)
        await self._intake.submit_all_in(uow, requests, actor)
        return outcomes
