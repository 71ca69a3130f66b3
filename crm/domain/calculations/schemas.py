"""Calculations (quotes): an insurer's offer within a deal, from draft to confirmed or archived."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from crm.domain.calculations.rules import CalculationStatus
from crm.domain.money import Amount, NonNegativeAmount
from crm.domain.pagination import PageRequest
from crm.domain.records import Record
from crm.domain.types import Day, Name, SearchTerm, Text
from crm.domain.versioning import PatchBody

MAX_FILES = 50


FileRef = Annotated[str, Text(max_length=1024, blank=False)]
Files = Annotated[list[FileRef], Field(max_length=MAX_FILES, description=f"File references, at most {MAX_FILES}.")]
Comments = Annotated[str, Text(max_length=5000, strip=False)]


class ValidityPeriod(BaseModel):
    """Both ends inclusive; either may be unknown (null) while the quote is a draft."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: Day | None = None
    end: Day | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ValidityPeriod:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")
        return self

    @property
    def is_complete(self) -> bool:
        return self.start is not None and self.end is not None


def _no_bounds_is_no_period(value: Any) -> Any:
    # `{start: null, end: null}` says nothing is known, the same as no period at all.
    if isinstance(value, ValidityPeriod) and value.start is None and value.end is None:
        return None
    return value


Period = Annotated[ValidityPeriod, AfterValidator(_no_bounds_is_no_period)]

_EXAMPLE: dict[str, Any] = {
    "insurance_company": "Ingosstrakh",
    "program_name": "CASCO Premium",
    "premium_amount": "125000.00",
    "coverage_sum": "4500000.00",
    "calculation_date": "2026-11-20",
    "validity_period": {"start": "2026-12-01", "end": "2027-11-30"},
    "files": ["quotes/ingosstrakh-casco-2026.pdf"],
}


class CalculationCreate(BaseModel):
    """``status`` starts as ``draft``; it and ``linked_policy_id`` change only through ``…/status``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    insurance_company: Name
    program_name: Name | None = None
    premium_amount: NonNegativeAmount | None = None
    coverage_sum: NonNegativeAmount | None = None
    calculation_date: Day
    validity_period: Period | None = None
    files: Files = Field(default_factory=list)
    comments: Comments | None = None
    owner_id: UUID | None = None


class CalculationUpdate(PatchBody):
    """Partial update: absent fields stay, ``null`` clears a nullable field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"premium_amount": "119000.00"}]})

    insurance_company: Name | None = None
    program_name: Name | None = None
    premium_amount: NonNegativeAmount | None = None
    coverage_sum: NonNegativeAmount | None = None
    calculation_date: Day | None = None
    validity_period: Period | None = None
    files: Files | None = None
    comments: Comments | None = None
    owner_id: UUID | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"insurance_company", "calculation_date", "files"})


class CalculationStatusChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "ready"},
                {"status": "confirmed", "policy_id": "0b7e1c52-3f4a-4d7e-9f0a-2c1b5e8d7a61"},
            ],
            # policy_id only with `confirmed`, as _only_when_confirming checks.
            "if": {"properties": {"status": {"not": {"const": "confirmed"}}}, "required": ["status"]},
            "then": {"properties": {"policy_id": {"type": "null"}}},
        },
    )

    status: CalculationStatus
    policy_id: UUID | None = Field(
        default=None, description="Only with `confirmed`: a live policy of the same deal to link."
    )

    @field_validator("policy_id")
    @classmethod
    def _only_when_confirming(cls, value: UUID | None, info: ValidationInfo) -> UUID | None:
        if value is not None and info.data.get("status") not in (None, CalculationStatus.CONFIRMED):
            raise ValueError("may only be given with status confirmed")
        return value


class Calculation(Record):
    deal_id: UUID
    insurance_company: str
    program_name: str | None
    premium_amount: Amount | None
    coverage_sum: Amount | None
    calculation_date: date
    validity_period: ValidityPeriod | None
    files: list[str]
    comments: str | None
    owner_id: UUID | None
    status: CalculationStatus = Field(description="Changed only through `POST …/{id}/status`.")
    linked_policy_id: UUID | None = Field(description="The policy a confirmed calculation was accepted as.")


class CalculationFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    deal_id: UUID
    statuses: frozenset[CalculationStatus] | None = Field(default=None, description="None: any status.")
    insurance_company: SearchTerm | None = Field(default=None, description="Part of the insurer's name.")
    calculation_date_from: date | None = None
    calculation_date_to: date | None = None
    page: PageRequest = PageRequest()
