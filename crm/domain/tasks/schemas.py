"""Tasks: work for a person, optionally about a deal, client, policy or payment, with a due time."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
)
from pydantic.alias_generators import to_camel

from crm.domain.pagination import PageRequest
from crm.domain.records import Record
from crm.domain.tasks.rules import ReminderChannel, TaskPriority, TaskStatus
from crm.domain.types import Day, Instant, JsonObjectSchema, LongText, Text, Title, unstorable_text
from crm.domain.versioning import PatchBody

# Examples of times that must be in the future: valid whenever the document is read.
FAR_FUTURE = "2999-12-01T09:00:00+03:00"
JSON_MAX_BYTES = 64 * 1024
JSON_MAX_DEPTH = 16
LINK_FIELDS = ("deal_id", "client_id", "policy_id", "payment_id")


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse what ``jsonb`` cannot store (NUL, unpaired surrogates, NaN, Infinity) and what is too large to be a
    task's metadata."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list) and depth > JSON_MAX_DEPTH:
            raise ValueError(f"must be nested at most {JSON_MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    raise ValueError("keys must be strings")
                problem = unstorable_text(key)
                if problem is not None:
                    raise ValueError(f"keys {problem}")
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            problem = unstorable_text(node)
            if problem is not None:
                raise ValueError(f"strings {problem}")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValueError("numbers must be finite")
        elif node is not None and not isinstance(node, bool | int):
            raise ValueError("must hold only JSON values")
    if len(json.dumps(value, ensure_ascii=False).encode()) > JSON_MAX_BYTES:
        raise ValueError(f"must be at most {JSON_MAX_BYTES} bytes as JSON")
    return value


Moment = Instant
# A filter bound: an instant, or a plain day meaning its midnight in the business time zone.
MomentOrDay = Annotated[Instant | Day, Field(union_mode="left_to_right")]
JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_storable_json),
    JsonObjectSchema(
        f"Free-form JSON object, at most {JSON_MAX_DEPTH} levels deep and {JSON_MAX_BYTES} bytes; like every "
        "string of the API, its strings hold no NUL and no unpaired surrogate (I-JSON)."
    ),
]
Reason = Annotated[str, Text(max_length=2000, blank=False)]

# The old API took camelCase (`assigneeId`, `dueAt`, …) and `subject` for the title: both spellings
# are accepted on input (giving both for one field is refused as ambiguous); output is snake_case.
_INPUT = ConfigDict(
    extra="forbid",
    alias_generator=AliasGenerator(validation_alias=lambda name: AliasChoices(name, to_camel(name))),
)
_TITLE_ALIASES = AliasChoices("title", "subject")


class TaskCreate(BaseModel):
    """Every field may also be sent in camelCase (`assigneeId`, `dueAt`, …), and `title` as `subject`."""

    model_config = ConfigDict(
        **_INPUT,
        json_schema_extra={
            "examples": [
                {
                    "title": "Collect the signed application",
                    "assignee_id": "0b9c7f5e-3f1a-4d2b-9a8e-6c5d4b3a2f10",
                    "due_at": "2026-12-01T18:00:00+03:00",
                    "priority": "high",
                    "deal_id": "6f1c2a7e-4c1d-4c54-9a53-0d7d1b8f6a11",
                },
            ]
        },
    )

    title: Title = Field(validation_alias=_TITLE_ALIASES, description="Also accepted as `subject`.")
    description: LongText | None = None
    priority: TaskPriority = TaskPriority.NORMAL
    assignee_id: UUID | None = None
    due_at: Moment | None = None
    scheduled_for: Moment | None = Field(
        default=None, description="In the future: the task starts `scheduled` and becomes `pending` then."
    )
    deal_id: UUID | None = None
    client_id: UUID | None = None
    policy_id: UUID | None = None
    payment_id: UUID | None = None
    context: JsonObject = Field(default_factory=dict, description="Free-form JSON object.")
    payload: JsonObject = Field(default_factory=dict, description="Free-form JSON object.")


class TaskUpdate(PatchBody):
    """Partial update: absent fields stay, ``null`` clears a nullable field. camelCase accepted too."""

    model_config = ConfigDict(**_INPUT, json_schema_extra={"examples": [{"status": "in_progress"}]})

    title: Title | None = Field(default=None, validation_alias=_TITLE_ALIASES)
    description: LongText | None = None
    status: TaskStatus | None = Field(
        default=None, description="`cancelled` needs `cancelled_reason`; `scheduled` needs `scheduled_for`."
    )
    priority: TaskPriority | None = None
    assignee_id: UUID | None = None
    due_at: Moment | None = None
    scheduled_for: Moment | None = Field(default=None, description="Only for a scheduled task; in the future.")
    cancelled_reason: Reason | None = Field(default=None, description="Only for a cancelled task.")
    deal_id: UUID | None = None
    client_id: UUID | None = None
    policy_id: UUID | None = None
    payment_id: UUID | None = None
    context: JsonObject | None = None
    payload: JsonObject | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"title", "status", "priority", "context", "payload"})


class TaskSchedule(BaseModel):
    model_config = ConfigDict(**_INPUT, json_schema_extra={"examples": [{"scheduled_for": FAR_FUTURE}]})

    scheduled_for: Moment = Field(description="In the future; the task becomes `pending` then.")


class TaskReminderCreate(BaseModel):
    model_config = ConfigDict(
        **_INPUT, json_schema_extra={"examples": [{"remind_at": FAR_FUTURE, "channel": "telegram"}]}
    )

    remind_at: Moment = Field(description="In the future.")
    channel: ReminderChannel


class Task(Record):
    title: str
    description: str | None
    status: TaskStatus
    priority: TaskPriority
    assignee_id: UUID | None
    author_id: UUID | None = Field(description="Who created the task: the caller.")
    due_at: datetime | None
    scheduled_for: datetime | None = Field(description="Set while the task is `scheduled`.")
    completed_at: datetime | None
    cancelled_reason: str | None
    deal_id: UUID | None
    client_id: UUID | None
    policy_id: UUID | None
    payment_id: UUID | None
    context: dict[str, Any]
    payload: dict[str, Any]


class TaskReminder(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    task_id: UUID
    remind_at: datetime
    channel: ReminderChannel
    created_at: datetime


class TaskFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    assignee_id: UUID | None = None
    statuses: frozenset[TaskStatus] | None = Field(default=None, description="None: any status.")
    priorities: frozenset[TaskPriority] | None = None
    deal_id: UUID | None = None
    due_before: datetime | date | None = Field(default=None, description="due_at < this (exclusive).")
    due_after: datetime | date | None = Field(default=None, description="due_at >= this (inclusive).")
    page: PageRequest = PageRequest()
