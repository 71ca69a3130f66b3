"""What a notification is asked for with: by a client (POST /notifications), by an occasion (a task reminder,
a payment due, a policy to renew) or by an inbound event."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from crm.domain.tasks.schemas import JsonObject
from crm.domain.types import Text


class Channel(StrEnum):
    SSE = "sse"
    TELEGRAM = "telegram"


# The pattern goes to Text, which checks it and puts it in the JSON Schema (a Field pattern beside it would be
# overridden there, and the document would promise what the check refuses).
EventKey = Annotated[
    str, Text(max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$", pattern_message="letters, digits, _ . : - only")
]
DeduplicationKey = Annotated[str, Text(max_length=255, blank=False)]
# A Telegram chat: its id (negative for groups and channels) or a public channel's @name. The one definition:
# notification recipients, user contacts and inbound events' data.chatId all take this.
TELEGRAM_CHAT_ID = r"^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$"
TelegramChatId = Annotated[
    str,
    Text(max_length=64, pattern=TELEGRAM_CHAT_ID, pattern_message="a chat id (digits, maybe negative) or an @username"),
]

# The old API took camelCase (`eventKey`, `telegramId`, …): both spellings are accepted on input.
_INPUT = ConfigDict(
    extra="forbid",
    alias_generator=AliasGenerator(validation_alias=lambda name: AliasChoices(name, to_camel(name))),
)


# Notifications the service asks for itself are deduplicated by keys of their own: an occasion's
# `<occasion>:<what>[:<when>]` and an inbound event's `inbound:<id>`. A client may not use them (it would silence
# the occasion or the event), so POST /notifications refuses a key starting like one.
OCCASIONS = frozenset({"task.reminder", "payment.due", "payment.overdue", "policy.renewal", "automation"})
INBOUND = "inbound"


def system_key(kind: str, *parts: object) -> str:
    """The deduplication key of an occasion (``kind`` one of ``OCCASIONS``) or of an inbound event (``INBOUND``)."""
    assert kind in OCCASIONS or kind == INBOUND, kind
    return ":".join([kind, *(str(part) for part in parts)])


def is_system_key(key: str) -> bool:
    kind, colon, _ = key.partition(":")
    return bool(colon) and (kind in OCCASIONS or kind == INBOUND)


class Recipient(BaseModel):
    """A person (``user_id``) or a Telegram chat (``telegram_id``), or both; at least one."""

    model_config = ConfigDict(**_INPUT, frozen=True)

    user_id: UUID | None = None
    telegram_id: TelegramChatId | None = None

    @model_validator(mode="after")
    def _someone(self) -> Recipient:
        if self.user_id is None and self.telegram_id is None:
            raise ValueError("a recipient needs a user_id or a telegram_id")
        return self


class NotificationRequest(BaseModel):
    """Body of POST /notifications, and what an occasion or an inbound event hands to ``NotificationIntake``."""

    model_config = ConfigDict(**_INPUT, frozen=True)

    event_key: EventKey
    # No recipient at all means the staff: shown on the notifications stream to admins and managers (sse only);
    # an inbound event naming nobody is handed over this way.
    recipients: list[Recipient] = Field(default_factory=list, max_length=500)
    payload: JsonObject = Field(default_factory=dict)
    # Channels to deliver on instead of the ones the event key's templates exist for.
    channel_overrides: list[Channel] | None = Field(default=None, min_length=1, max_length=2)
    deduplication_key: DeduplicationKey | None = None
