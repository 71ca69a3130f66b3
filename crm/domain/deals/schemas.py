"""Deals: an insurance sale to a client, moving through stages to won or lost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from crm.domain.access import MemberRole
from crm.domain.deals.rules import FINAL_STATUSES, DealStatus
from crm.domain.pagination import PageRequest
from crm.domain.pipelines.schemas import LostReason, StageKey
from crm.domain.records import Record
from crm.domain.types import Day, LongText, SearchTerm, Title
from crm.domain.versioning import PatchBody

NO_MANAGER = "__NO_MANAGER__"


class ReviewPeriod(StrEnum):
    WEEK = "7d"
    MONTH = "30d"
    QUARTER = "90d"
    ALL = "all"

    @property
    def days(self) -> int | None:
        return None if self is ReviewPeriod.ALL else int(self.value[:-1])


def _open(status: DealStatus) -> DealStatus:
    if status in FINAL_STATUSES:
        raise ValueError(f"a new deal cannot be {status}; it starts open")
    return status


OpenDealStatus = Annotated[
    DealStatus,
    AfterValidator(_open),
    WithJsonSchema({"type": "string", "enum": [s.value for s in DealStatus if s not in FINAL_STATUSES]}),
]


class DealCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "client_id": "6f1c2a7e-4c1d-4c54-9a53-0d7d1b8f6a11",
                    "title": "Fleet CASCO renewal 2027",
                    "next_review_at": "2026-12-01",
                }
            ]
        },
    )

    client_id: UUID
    title: Title
    description: LongText | None = None
    status: OpenDealStatus = Field(default=DealStatus.DRAFT, description="Initial status; won/lost not allowed.")
    next_review_at: Day
    owner_id: UUID | None = None
    pipeline_id: UUID | None = Field(
        default=None,
        description="Default: the default pipeline. The deal starts in the stage its status names there, else in "
        "the pipeline's first open stage.",
    )


class DealUpdate(PatchBody):
    """Partial update: absent fields stay, ``null`` clears a nullable field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"next_review_at": "2026-12-15"}]})

    client_id: UUID | None = None
    title: Title | None = None
    description: LongText | None = None
    status: DealStatus | None = None
    next_review_at: Day | None = None
    owner_id: UUID | None = None
    lost_reason: LostReason | None = Field(
        default=None, description="Of a deal in (or moving to, with `status: lost`) a lost stage."
    )

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"client_id", "title", "status", "next_review_at"})


class StageChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"stage": "negotiation"}, {"stage": "closedLost", "lost_reason": "Price too high"}]
        },
    )

    stage: StageKey = Field(description="A stage key of the deal's pipeline.")
    lost_reason: LostReason | None = Field(
        default=None,
        description="Moving to a lost stage: one of the pipeline's `lost_reasons` (any text when the list is empty); "
        "required when the pipeline's `lost_reason_required`.",
    )


class PipelineMove(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"pipeline_id": "0e5a1c3b-7d2f-4a60-9b1e-5c0de0a1f001", "stage": "proposal"}]},
    )

    pipeline_id: UUID
    stage: StageKey | None = Field(
        default=None,
        description="A stage key of that pipeline. Default: the stage with the deal's stage key, else the only stage "
        "of its kind; 422 `stage_required` when there is none such.",
    )
    lost_reason: LostReason | None = Field(default=None, description="As for `PATCH /deals/{id}/stage`.")


class Deal(Record):
    client_id: UUID
    title: str
    description: str | None
    status: DealStatus
    next_review_at: date
    owner_id: UUID | None
    closed_at: datetime | None = Field(description="When the deal was last won or lost.")
    pipeline_id: UUID
    stage_id: UUID
    stage: str = Field(
        description="The key of the deal's stage in its pipeline; change it with `PATCH /deals/{id}/stage`.",
        examples=["qualification", "negotiation", "proposal", "closedWon", "closedLost"],
    )
    stage_entered_at: datetime = Field(description="When the deal came into its stage.")
    lost_reason: str | None = Field(description="Why it was lost, while it is in a lost stage.")

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_STATUSES


class DealFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    statuses: frozenset[DealStatus] | None = Field(default=None, description="None: any status.")
    owner_ids: frozenset[UUID] = frozenset()
    include_unassigned: bool = False
    client_id: UUID | None = None
    review_due_by: date | None = None
    search: SearchTerm | None = None
    pipeline_id: UUID | None = None
    stages: frozenset[str] | None = Field(default=None, description="Stage keys; None: any stage.")
    page: PageRequest = PageRequest()


class StageMetric(BaseModel):
    stage: str = Field(examples=["negotiation"])
    count: int
    total_value: Decimal = Field(description="Sum of planned amounts of live, non-cancelled payments.")
    conversion_rate: float = Field(description="Share of deals that reached the stage and moved past it.")
    avg_cycle_duration_days: float = Field(description="Mean age (open) or open-to-close time (closed).")


class StageMetrics(BaseModel):
    items: list[StageMetric]


class DealMemberCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"user_id": "0b6c39f2-1a53-4f43-9f0e-3d0f6a2d4c77", "role": "executor"}]},
    )

    user_id: UUID
    role: MemberRole = Field(description="`executor` sees the deal and writes its journal; `co_owner` acts as owner.")


class DealMember(BaseModel):
    model_config = ConfigDict(frozen=True)

    deal_id: UUID
    user_id: UUID
    role: MemberRole
    created_at: datetime
    created_by_id: UUID | None = Field(description="Who put the person on the team.")


class StageChangeSource(StrEnum):
    MANUAL = "manual"  # a person moved the deal (its stage, its status or its pipeline)
    RULE = "rule"  # an automation rule did
    MIGRATION = "migration"  # migration 0014: where a deal stood when history began
    CREATED = "created"  # the deal was created in the stage


@dataclass(frozen=True, slots=True)
class StageTransition:
    """A deal's move into a stage (from another, or from nowhere), as its history records it."""

    deal_id: UUID
    from_stage_id: UUID | None
    from_stage: str | None
    from_pipeline_id: UUID | None
    to_stage_id: UUID
    to_stage: str
    to_pipeline_id: UUID
    actor_id: UUID | None
    source: StageChangeSource
    at: datetime
    seconds_in_previous: int | None
    rule_id: UUID | None = None


class StageHistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    deal_id: UUID
    from_stage: str | None = Field(description="The stage key it left; null for the first entry.")
    to_stage: str
    from_stage_id: UUID | None
    to_stage_id: UUID
    from_pipeline_id: UUID | None
    to_pipeline_id: UUID
    actor_id: UUID | None = Field(description="Who moved it; null for a rule's or the migration's move.")
    rule_id: UUID | None = Field(description="The automation rule that moved it.")
    source: StageChangeSource
    at: datetime
    seconds_in_previous: int | None = Field(description="Whole seconds the deal spent in `from_stage`.")
