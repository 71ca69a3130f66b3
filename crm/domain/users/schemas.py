"""A user's contacts: the Telegram chat that reaches them, the channel they prefer, the locale of their texts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AliasChoices, AliasGenerator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from crm.domain.errors import FieldProblem
from crm.domain.notifications.schemas import Channel, TelegramChatId
from crm.domain.types import Text
from crm.domain.users.errors import TelegramIdRequired

# Text's own pattern, so the OpenAPI document carries it too (a Field pattern beside Text is checked, not shown).
Locale = Annotated[str, Text(max_length=16, pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$", pattern_message="a locale like ru-RU")]
TelegramId = TelegramChatId


class UserContactsPut(BaseModel):
    """The whole contact record (PUT replaces it): absent fields take their defaults. camelCase accepted too."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=AliasGenerator(validation_alias=lambda name: AliasChoices(name, to_camel(name))),
        json_schema_extra={
            "examples": [{"telegram_id": "123456789", "preferred_channel": "telegram", "locale": "ru-RU"}]
        },
    )

    telegram_id: TelegramId | None = Field(
        default=None, description="A Telegram chat id (digits, `-` for groups) or `@channel` name; null: none."
    )
    preferred_channel: Channel = Field(
        default=Channel.SSE, description="Where occasions that do not name a channel reach the user."
    )
    locale: Locale | None = Field(default=None, description="e.g. `ru-RU`; null: the service default.")


def check_reachable(channel: Channel, telegram_id: str | None) -> None:
    """Telegram is preferred only by someone it can reach (the table keeps this rule too)."""
    if channel == Channel.TELEGRAM and telegram_id is None:
        raise TelegramIdRequired(
            "Telegram is preferred only by someone it can reach.",
            errors=[FieldProblem("telegram_id", "required when preferred_channel is telegram")],
        )


class UserContacts(BaseModel):
    """Served with its ``version`` as ``ETag``."""

    model_config = ConfigDict(frozen=True)

    user_id: UUID
    telegram_id: str | None
    preferred_channel: Channel
    locale: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by_id: UUID | None = None
