"""Automation rules and their runs: what comes in, what goes out."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, StrictBool, Tag, model_validator
from pydantic.config import JsonDict

from crm.domain.money import Currency, NonNegativeAmount
from crm.domain.notifications.schemas import EventKey
from crm.domain.pagination import PageRequest
from crm.domain.pipelines.schemas import LostReason, StageKey
from crm.domain.records import Record
from crm.domain.tasks.rules import TaskPriority
from crm.domain.types import Day, LongText, Name, Text, Title
from crm.domain.versioning import PatchBody

MAX_DATA_CONDITIONS = 20
MAX_LISTED = 100


def _not_a_boolean(value: object) -> object:
    # JSON's true/false are not numbers, though Python's bool is an int.
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer")
    return value


Hours = Annotated[int, Field(ge=1, le=24 * 366), BeforeValidator(_not_a_boolean)]
Days = Annotated[int, Field(ge=1, le=3660), BeforeValidator(_not_a_boolean)]
EventType = Annotated[
    str,
    Text(
        max_length=128,
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$",
        pattern_message="an event type such as deal.stage.changed: lower-case words joined by dots",
    ),
    Field(examples=["deal.stage.changed", "deal.payment.updated", "task.created"]),
]
DataPath = Annotated[
    str,
    Text(
        max_length=200,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        pattern_message="field names joined by dots, such as new_stage or payment.status",
    ),
]
Scalar = str | int | float | bool | None
Operator = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "absent"]
LISTS: frozenset[str] = frozenset({"in", "not_in"})
ORDERED: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
PRESENCE: frozenset[str] = frozenset({"exists", "absent"})
# Rules across a condition's operator and value, and across an amount range's bounds.
LIST_NEEDED = f"`in` and `not_in` take a list of 1 to {MAX_LISTED} values"
LIST_REFUSED = "only `in` and `not_in` take a list"
ORDER_NEEDS_VALUE = "`gt`, `gte`, `lt` and `lte` take a number, a date or a time"
PRESENCE_TAKES_NONE = "`exists` and `absent` take no value"
BOUND_NEEDED = "give `min`, `max` or both"
BOUNDS_CROSSED = "`min` must not be above `max`"
CONDITION_RULES = (LIST_NEEDED, LIST_REFUSED, ORDER_NEEDS_VALUE, PRESENCE_TAKES_NONE, BOUND_NEEDED, BOUNDS_CROSSED)


class DataCondition(BaseModel):
    """A test of one field of the event's ``data`` (a dotted path into nested objects)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"path": "new_stage", "op": "eq", "value": "proposal"}]}
    )

    path: DataPath
    op: Operator = Field(
        description="`eq`/`ne`: equal (numbers compared as decimals); `in`/`not_in`: one of a list; `gt`, `gte`, "
        "`lt`, `lte`: ordered (decimal numbers, or ISO dates and times as text); `exists`/`absent`: present and not "
        "null, or not."
    )
    value: Scalar | list[Scalar] = Field(
        default=None, description="A list for `in`/`not_in`; none for `exists`/`absent`."
    )

    @model_validator(mode="after")
    def _value_fits_op(self) -> DataCondition:
        if self.op in LISTS and not (isinstance(self.value, list) and 0 < len(self.value) <= MAX_LISTED):
            raise ValueError(LIST_NEEDED)
        if self.op not in LISTS and isinstance(self.value, list):
            raise ValueError(LIST_REFUSED)
        if self.op in ORDERED and (self.value is None or isinstance(self.value, bool)):
            raise ValueError(ORDER_NEEDS_VALUE)
        if self.op in PRESENCE and self.value is not None:
            raise ValueError(PRESENCE_TAKES_NONE)
        return self


class TriggerKind(StrEnum):
    EVENT = "event"
    DEAL_IN_STAGE = "deal_in_stage"
    PAYMENT_OVERDUE = "payment_overdue"
    TASK_OVERDUE = "task_overdue"


class EventTrigger(BaseModel):
    """An event of ``event_type`` on the event stream whose data passes every test of ``where``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[TriggerKind.EVENT]
    event_type: EventType
    where: list[DataCondition] = Field(default_factory=list, max_length=MAX_DATA_CONDITIONS)


class DealInStageTrigger(BaseModel):
    """A deal has stood in ``stage_id`` for ``hours`` (once per time it came into the stage)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[TriggerKind.DEAL_IN_STAGE]
    stage_id: UUID
    hours: Hours


class PaymentOverdueTrigger(BaseModel):
    """A payment of a deal is overdue (nothing paid, its planned date passed) for ``days`` days (once per planned
    date)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[TriggerKind.PAYMENT_OVERDUE]
    days: Days


class TaskOverdueTrigger(BaseModel):
    """A task of a deal is open ``hours`` after its ``due_at`` (0: as soon as it is due; once per due time)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[TriggerKind.TASK_OVERDUE]
    hours: Annotated[int, Field(ge=0, le=24 * 366), BeforeValidator(_not_a_boolean)] = 0


Trigger = Annotated[
    EventTrigger | DealInStageTrigger | PaymentOverdueTrigger | TaskOverdueTrigger, Field(discriminator="kind")
]
TIME_TRIGGERS = frozenset({TriggerKind.DEAL_IN_STAGE, TriggerKind.PAYMENT_OVERDUE, TriggerKind.TASK_OVERDUE})


class AmountRange(BaseModel):
    """The deal's value in ``currency`` (its live policies' payments not cancelled: the value stage metrics sum)
    from ``min`` to ``max``, both included."""

    model_config = ConfigDict(extra="forbid")

    currency: Currency
    min: NonNegativeAmount | None = None
    max: NonNegativeAmount | None = None

    @model_validator(mode="after")
    def _bounded(self) -> AmountRange:
        if self.min is None and self.max is None:
            raise ValueError(BOUND_NEEDED)
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(BOUNDS_CROSSED)
        return self


class Conditions(BaseModel):
    """What the deal must be when the rule fires; every given one must hold. Empty: any deal."""

    model_config = ConfigDict(extra="forbid")

    pipeline_id: UUID | None = None
    stage_ids: list[UUID] = Field(
        default_factory=list, max_length=MAX_LISTED, description="The deal stands in one of these."
    )
    owner_ids: list[UUID] = Field(
        default_factory=list, max_length=MAX_LISTED, description="The deal's owner is one of these."
    )
    amount: AmountRange | None = None


class ActionKind(StrEnum):
    MOVE_STAGE = "move_stage"
    CREATE_TASK = "create_task"
    NOTIFY = "notify"
    SET_FIELD = "set_field"


class MoveStage(BaseModel):
    """Move the deal to the stage of its pipeline with this key (its status follows, as with PATCH …/stage)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[ActionKind.MOVE_STAGE]
    stage: StageKey
    lost_reason: LostReason | None = None


class CreateTask(BaseModel):
    """Give the deal's owner a task on the deal, due ``due_in_hours`` after the firing (none: no due time)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[ActionKind.CREATE_TASK]
    title: Name
    description: LongText | None = None
    due_in_hours: Annotated[int, Field(ge=0, le=24 * 366), BeforeValidator(_not_a_boolean)] | None = None
    priority: TaskPriority = TaskPriority.NORMAL


NOTIFY_EVENT_KEY = "automation.rule.fired"


class Notify(BaseModel):
    """Notify the deal's owner (on their preferred channel) through the notifications module; ``event_key``
    picks the templates (none: the notification's plain summary)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[ActionKind.NOTIFY]
    event_key: EventKey = NOTIFY_EVENT_KEY
    message: Annotated[str, Text(max_length=1000, blank=False)] | None = None


class SettingAction(BaseModel):
    """Set one field of the deal, as PATCH /deals/{id} would (the same checks); each field its own value type."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[ActionKind.SET_FIELD]


class SetTitle(SettingAction):
    field: Literal["title"]
    value: Title


class SetDescription(SettingAction):
    field: Literal["description"]
    value: LongText | None


class SetNextReview(SettingAction):
    field: Literal["next_review_at"]
    value: Day


class SetOwner(SettingAction):
    field: Literal["owner_id"]
    value: UUID | None


def _action_tag(value: Any) -> str | None:
    """Which action a value is: its ``kind``, and for ``set_field`` the field too (each field has its own type)."""
    if isinstance(value, dict):
        kind, field = value.get("kind"), value.get("field")
    else:
        kind, field = getattr(value, "kind", None), getattr(value, "field", None)
    if kind == ActionKind.SET_FIELD:
        return f"set_field:{field}"
    return kind if isinstance(kind, str) else None


ACTION_KINDS = (
    "one of move_stage, create_task, notify, or set_field with field title, description, next_review_at or owner_id"
)
Action = Annotated[
    Annotated[MoveStage, Tag("move_stage")]
    | Annotated[CreateTask, Tag("create_task")]
    | Annotated[Notify, Tag("notify")]
    | Annotated[SetTitle, Tag("set_field:title")]
    | Annotated[SetDescription, Tag("set_field:description")]
    | Annotated[SetNextReview, Tag("set_field:next_review_at")]
    | Annotated[SetOwner, Tag("set_field:owner_id")],
    Discriminator(_action_tag, custom_error_type="action_kind", custom_error_message=f"must be {ACTION_KINDS}"),
]

_EXAMPLE: JsonDict = {
    "name": "Proposal stuck for two days: remind the owner",
    "trigger": {"kind": "deal_in_stage", "stage_id": "0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f103", "hours": 48},
    "conditions": {"amount": {"currency": "RUB", "min": "50000"}},
    "action": {"kind": "create_task", "title": "Call the client about the proposal", "due_in_hours": 24},
}


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    name: Name
    enabled: StrictBool = True
    trigger: Trigger
    conditions: Conditions = Field(default_factory=Conditions)
    action: Action


class RuleUpdate(PatchBody):
    """Partial update; ``enabled: false`` disables the rule (it stops firing at once; its runs stay)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": False}]})

    name: Name | None = None
    enabled: StrictBool | None = None
    trigger: Trigger | None = None
    conditions: Conditions | None = None
    action: Action | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"name", "enabled", "trigger", "conditions", "action"})


class AutomationRule(Record):
    name: str
    enabled: bool
    enabled_at: datetime | None = Field(
        description="When the rule was last enabled: an event rule fires on the events recorded since."
    )
    trigger: Trigger
    conditions: Conditions
    action: Action


class RuleFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    enabled: bool | None = None
    page: PageRequest = PageRequest()


class RunStatus(StrEnum):
    DONE = "done"  # the action took effect
    FAILED = "failed"  # the action was refused (e.g. the move is not allowed); nothing it would do was done
    SKIPPED = "skipped"  # nothing to do (the deal is gone, or already where the action would put it)
    LOOP_STOPPED = "loop_stopped"  # the occasion was caused by this rule's own firing: not fired again


class AutomationRun(BaseModel):
    """One occasion of a rule, fired (or stopped) once."""

    model_config = ConfigDict(frozen=True)

    id: int
    rule_id: UUID
    occasion: str = Field(description="What fired the rule, unique per rule: `event:<id>`, `deal:<id>@<entered>`, ….")
    status: RunStatus
    deal_id: UUID | None
    event_id: UUID | None = Field(description="The event that triggered the run, for an event rule.")
    cause: list[UUID] = Field(description="The rules whose firings led to the occasion, first to last.")
    detail: dict[str, Any] = Field(description="What the action did (the stage moved to, the task made, …).")
    error: str | None
    at: datetime


class RunFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: RunStatus | None = None
    page: PageRequest = PageRequest()
