"""Lead intake's directory: the operators who take appeals, the sources appeals come through, and how much of each
source's flow each operator gets (its weights).

Appeals and leads come later; what is here is what distribution will read: an operator is a candidate when
active, present (working hours in the business time zone, absences) and under ``max_load``, with a weight > 0 for
the appeal's source.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, computed_field, field_validator
from pydantic_core import PydanticCustomError

from crm.domain.pagination import PageRequest
from crm.domain.records import Record
from crm.domain.types import Instant, Name, SearchTerm
from crm.domain.versioning import PatchBody

# "HH:MM" on a 24-hour clock; "24:00" ends a shift at midnight.
HourMinute = Annotated[
    str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", examples=["09:00"], description="HH:MM, 24-hour")
]


def _not_a_boolean(value: object) -> object:
    # JSON's true/false are not numbers, though Python's bool is an int.
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


MaxLoad = Annotated[
    int,
    Field(ge=0, le=100_000, description="How many open appeals the operator may hold."),
]
# Integer weights: exact, and a share is weight / sum(weights) of the candidates, so no scale is lost.
Weight = Annotated[
    int,
    Field(ge=0, le=1_000_000, description="Relative share of the source's appeals; 0 = none."),
]
MAX_SHIFTS_PER_DAY = 8
MAX_ABSENCES = 100
MAX_WEIGHTS = 1_000
# Rules across the values of one field or item, which a JSON Schema cannot state.
TO_AFTER_FROM = "`to` must be later than `from`"
SHIFTS_OVERLAP = "shifts of one day must not overlap"
ENDS_AFTER_STARTS = "`ends_at` must be later than `starts_at`"
ABSENCES_OVERLAP = "absences must not overlap"


class Shift(BaseModel):
    """One stretch of a weekday the operator works, in the business time zone; ``to`` is after ``from``."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    starts: HourMinute = Field(alias="from")
    ends: HourMinute = Field(alias="to")

    @field_validator("ends")
    @classmethod
    def _after_start(cls, value: str, info: ValidationInfo) -> str:
        starts = info.data.get("starts")
        if starts is not None and value <= starts:
            raise ValueError(TO_AFTER_FROM)
        return value


DayShifts = Annotated[list[Shift], Field(max_length=MAX_SHIFTS_PER_DAY)]


class WorkingHours(BaseModel):
    """Shifts per weekday; a day left out (or empty) is a day off."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"mon": [{"from": "09:00", "to": "18:00"}]}]},
    )

    mon: DayShifts = Field(default_factory=list)
    tue: DayShifts = Field(default_factory=list)
    wed: DayShifts = Field(default_factory=list)
    thu: DayShifts = Field(default_factory=list)
    fri: DayShifts = Field(default_factory=list)
    sat: DayShifts = Field(default_factory=list)
    sun: DayShifts = Field(default_factory=list)

    @field_validator("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    @classmethod
    def _apart(cls, shifts: list[Shift]) -> list[Shift]:
        ordered = sorted(shifts, key=lambda shift: shift.starts)
        for earlier, later in pairwise(ordered):
            if later.starts < earlier.ends:
                raise ValueError(SHIFTS_OVERLAP)
        return ordered


class Absence(BaseModel):
    """A time the operator is away (leave, sick day): ``[starts_at, ends_at)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    starts_at: Instant
    ends_at: Instant

    @field_validator("ends_at")
    @classmethod
    def _after_start(cls, value: datetime, info: ValidationInfo) -> datetime:
        starts_at = info.data.get("starts_at")
        if starts_at is not None and value <= starts_at:
            raise ValueError(ENDS_AFTER_STARTS)
        return value


def _apart(absences: list[Absence]) -> list[Absence]:
    """In time order and in UTC, refusing any two that overlap."""
    ordered = sorted(
        (Absence(starts_at=a.starts_at.astimezone(UTC), ends_at=a.ends_at.astimezone(UTC)) for a in absences),
        key=lambda absence: absence.starts_at,
    )
    for earlier, later in pairwise(ordered):
        if later.starts_at < earlier.ends_at:
            raise ValueError(ABSENCES_OVERLAP)
    return ordered


Absences = Annotated[list[Absence], Field(max_length=MAX_ABSENCES)]


class OperatorCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "user_id": "6f1c2a8e-3b0d-4c55-9d2e-7a1b9c0d4e5f",
                    "name": "Anna Petrova",
                    "max_load": 20,
                    "working_hours": {"mon": [{"from": "09:00", "to": "18:00"}]},
                }
            ]
        },
    )

    user_id: UUID = Field(description="The operator's user; one live operator per user.")
    name: Name
    active: StrictBool = True
    max_load: MaxLoad
    working_hours: WorkingHours | None = Field(default=None, description="Null: always present.")
    absences: Absences = Field(default_factory=list)

    _max_load_a_number = field_validator("max_load", mode="before")(_not_a_boolean)

    _absences_apart = field_validator("absences")(_apart)


class OperatorUpdate(PatchBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"max_load": 25}]})

    user_id: UUID | None = None
    name: Name | None = None
    active: StrictBool | None = None
    max_load: MaxLoad | None = None
    working_hours: WorkingHours | None = None
    absences: Absences | None = Field(default=None, description="Replaces the whole list.")

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"user_id", "name", "active", "max_load", "absences"})

    _max_load_a_number = field_validator("max_load", mode="before")(_not_a_boolean)

    @field_validator("absences")
    @classmethod
    def _absences_apart(cls, absences: list[Absence] | None) -> list[Absence] | None:
        return None if absences is None else _apart(absences)


class Operator(Record):
    user_id: UUID
    name: str
    active: bool
    max_load: int
    working_hours: WorkingHours | None
    absences: list[Absence]
    load: int = Field(description="Open appeals the operator holds now.")

    @computed_field(  # type: ignore[prop-decorator]
        description="Takes no new appeals: `load` has reached `max_load` (or passed it, when `max_load` was lowered "
        "below the load)."
    )
    @property
    def at_capacity(self) -> bool:
        return self.load >= self.max_load

    def derived_state(self) -> str:
        """The load changes without the version (appeals come and go), so it is part of the ETag."""
        return f"load_{self.load}"


class OperatorFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    active: bool | None = None
    search: SearchTerm | None = None
    page: PageRequest = PageRequest()


class SourceChannel(StrEnum):
    TELEGRAM = "telegram"
    WEB = "web"
    PARTNER = "partner"
    PHONE = "phone"
    EMAIL = "email"
    OTHER = "other"


class SourceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Telegram bot", "channel": "telegram"}]}
    )

    name: Name = Field(description="Unique among live sources.")
    channel: SourceChannel
    active: StrictBool = True
    sticky: StrictBool = Field(
        default=True, description="A repeat contact with an open appeal on this source goes to the same operator."
    )


class SourceUpdate(PatchBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"active": False}]})

    name: Name | None = None
    channel: SourceChannel | None = None
    active: StrictBool | None = None
    sticky: StrictBool | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"name", "channel", "active", "sticky"})


class Source(Record):
    name: str
    channel: SourceChannel
    active: bool
    sticky: bool


class SourceFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    active: bool | None = None
    channel: SourceChannel | None = None
    search: SearchTerm | None = None
    page: PageRequest = PageRequest()


class SourceWeight(BaseModel):
    """One operator's weight for a source."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"operator_id": "0b7e4c2a-1d3f-4a5b-8c9d-0e1f2a3b4c5d", "weight": 3}]},
    )

    operator_id: UUID
    weight: Weight

    _weight_a_number = field_validator("weight", mode="before")(_not_a_boolean)


SourceWeights = Annotated[list[SourceWeight], Field(max_length=MAX_WEIGHTS)]
