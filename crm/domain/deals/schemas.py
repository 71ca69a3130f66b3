"""Deals: an insurance sale to a client, moving through stages to won or lost."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, computed_field

from crm.domain.access import MemberRole
from crm.domain.deals.rules import FINAL_STATUSES, STAGE_OF_STATUS, DealStage, DealStatus
from crm.domain.pagination import PageRequest
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


class DealUpdate(PatchBody):
    """Partial update: absent fields stay, ``null`` clears a nullable field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"next_review_at": "2026-12-15"}]})

    client_id: UUID | None = None
    title: Title | None = None
    description: LongText | None = None
    status: DealStatus | None = None
    next_review_at: Day | None = None
    owner_id: UUID | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"client_id", "title", "status", "next_review_at"})


class StageChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"stage": "negotiation"}]})

    stage: DealStage


class Deal(Record):
    client_id: UUID
    title: str
    description: str | None
    status: DealStatus
    next_review_at: date
    owner_id: UUID | None
    closed_at: datetime | None = Field(description="When the deal was last won or lost.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def stage(self) -> DealStage:
        """Derived from ``status``; change it with ``PATCH /deals/{id}/stage``."""
        return STAGE_OF_STATUS[self.status]

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
    page: PageRequest = PageRequest()


class StageMetric(BaseModel):
    stage: DealStage
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
