"""Notification templates: the text an event key gets on a channel, in a locale."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.notifications.schemas import Channel, EventKey
from crm.domain.pagination import PageRequest
from crm.domain.records import Record
from crm.domain.tasks.schemas import JsonObject
from crm.domain.types import Text
from crm.domain.versioning import PatchBody

# BCP 47-like tags as the old service used them: ru-RU, en, en-US.
Locale = Annotated[
    str, Text(max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", pattern_message="a locale such as ru-RU")
]
Body = Annotated[str, Text(max_length=10_000, blank=False, strip=False)]


class TemplateStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class TemplateCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "key": "task.reminder",
                    "channel": "telegram",
                    "locale": "ru-RU",
                    "body": "Напоминание: {{ title }}",
                }
            ]
        },
    )

    key: EventKey = Field(description="The event key notifications name (`event_key`).")
    channel: Channel
    locale: Locale | None = Field(default=None, description="Unset: `CRM_NOTIFICATIONS_DEFAULT_LOCALE`.")
    body: Body = Field(description="A Jinja2 template (sandboxed, no HTML escaping) over the notification payload.")
    metadata: JsonObject = Field(default_factory=dict)
    status: TemplateStatus = TemplateStatus.ACTIVE


class TemplateUpdate(PatchBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"body": "{{ title }}"}]})

    key: EventKey | None = None
    channel: Channel | None = None
    locale: Locale | None = None
    body: Body | None = None
    metadata: JsonObject | None = None
    status: TemplateStatus | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"key", "channel", "locale", "body", "metadata", "status"})


class Template(Record):
    key: str
    channel: Channel
    locale: str
    body: str
    metadata: dict[str, Any]
    status: TemplateStatus


class TemplateFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str | None = None
    channel: Channel | None = None
    locale: str | None = None
    status: TemplateStatus | None = None
    page: PageRequest = PageRequest()
