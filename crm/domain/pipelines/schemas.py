"""Pipelines and their stages: what comes in, what goes out."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, field_validator

from crm.domain.pagination import PageRequest
from crm.domain.pipelines.rules import MAX_LOST_REASONS, MAX_STAGES, StageKind
from crm.domain.records import Record
from crm.domain.types import Name, SearchTerm, Text
from crm.domain.versioning import PatchBody


def _not_a_boolean(value: object) -> object:
    # JSON's true/false are not numbers, though Python's bool is an int.
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer")
    return value


STAGE_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
StageKey = Annotated[
    str,
    Text(
        max_length=64,
        min_length=1,
        pattern=STAGE_KEY_PATTERN,
        pattern_message="must be a letter then up to 63 letters, digits, _ or -",
    ),
    Field(
        description="What clients send as a deal's `stage`; unique among the pipeline's stages, never changed.",
        examples=["qualification", "negotiation", "proposal", "closedWon", "closedLost"],
    ),
]
Probability = Annotated[
    int,
    Field(ge=0, le=100, description="Per cent: how likely a deal in this stage is to be won."),
    BeforeValidator(_not_a_boolean),
]
SlaDays = Annotated[
    int,
    Field(ge=0, le=3650, description="Days a deal should stay in the stage at most; null: no limit."),
    BeforeValidator(_not_a_boolean),
]
LostReason = Annotated[Name, Field(description="Why a deal was lost.", examples=["Price too high"])]
LostReasons = Annotated[
    list[LostReason],
    Field(
        max_length=MAX_LOST_REASONS,
        description="The reasons a deal moved to a lost stage may give, each once; empty: any text (1-255 characters).",
        json_schema_extra={"uniqueItems": True},
    ),
]


def _unique_reasons(reasons: list[str] | None) -> list[str] | None:
    if reasons is not None and len(set(reasons)) != len(reasons):
        raise ValueError("each lost reason appears once (compared without surrounding whitespace)")
    return reasons


class StageCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"key": "underwriting", "name": "Underwriting", "kind": "open", "sla_days": 5}]
        },
    )

    key: StageKey
    name: Name
    kind: StageKind = Field(description="`open`, `won` or `lost`; never changed.")
    probability: Probability | None = Field(default=None, description="Default: 100 for a won stage, else 0.")
    sla_days: SlaDays | None = None


class StageUpdate(PatchBody):
    """A stage's key and kind stay as they were created: deals and their history name them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Underwriting", "sla_days": 7}]})

    name: Name | None = None
    probability: Probability | None = None
    sla_days: SlaDays | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"name", "probability"})


class Stage(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    pipeline_id: UUID
    key: str = Field(examples=["negotiation"])
    name: str
    kind: StageKind
    probability: int
    sla_days: int | None
    position: int = Field(description="0-based place in the pipeline's order.")


StageList = Annotated[list[StageCreate], Field(min_length=3, max_length=MAX_STAGES)]
StageOrder = Annotated[
    list[UUID],
    Field(
        min_length=1,
        max_length=MAX_STAGES,
        description="Every live stage of the pipeline, each once, in the new order.",
        json_schema_extra={"uniqueItems": True},
    ),
]


class PipelineCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Renewals",
                    "lost_reasons": ["Price too high", "Went to a competitor"],
                    "stages": [
                        {"key": "reminded", "name": "Reminded", "kind": "open", "sla_days": 7},
                        {"key": "quoted", "name": "Quoted", "kind": "open", "probability": 60},
                        {"key": "renewed", "name": "Renewed", "kind": "won"},
                        {"key": "churned", "name": "Churned", "kind": "lost"},
                    ],
                }
            ]
        },
    )

    name: Name = Field(description="Unique among live pipelines.")
    stages: StageList = Field(description="In order; at least one open, one won and one lost stage, keys unique.")
    lost_reasons: LostReasons = Field(default_factory=list)
    lost_reason_required: StrictBool = Field(default=True, description="Moving a deal to a lost stage needs one.")
    is_default: StrictBool = Field(default=False, description="New deals go here; the previous default stops being.")

    _reasons_unique = field_validator("lost_reasons")(_unique_reasons)


class PipelineUpdate(PatchBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"lost_reasons": ["Price too high"]}]})

    name: Name | None = None
    lost_reasons: LostReasons | None = None
    lost_reason_required: StrictBool | None = None
    is_default: Literal[True] | None = Field(
        default=None, description="`true` makes this the default; to change it, make another pipeline the default."
    )

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"name", "lost_reasons", "lost_reason_required", "is_default"})

    _reasons_unique = field_validator("lost_reasons")(_unique_reasons)


class Pipeline(Record):
    name: str
    is_default: bool = Field(description="Deals created without a `pipeline_id` go here.")
    lost_reasons: list[str]
    lost_reason_required: bool
    stages: list[Stage] = Field(description="Live stages in order.")

    def stage(self, stage_id: UUID) -> Stage | None:
        return next((stage for stage in self.stages if stage.id == stage_id), None)

    def stage_keyed(self, key: str) -> Stage | None:
        return next((stage for stage in self.stages if stage.key == key), None)


class PipelineFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    search: SearchTerm | None = None
    page: PageRequest = PageRequest()
