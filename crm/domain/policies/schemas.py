"""Policies: the insurance a deal ended in, with its number, period, premium and status."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.money import Amount, Currency, NonNegativeAmount
from crm.domain.pagination import PageRequest
from crm.domain.records import Record
from crm.domain.types import Day, SearchTerm, Text
from crm.domain.versioning import PatchBody


class PolicyStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PENDING_RENEWAL = "pending_renewal"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    CLOSED = "closed"


PolicyNumber = Annotated[str, Text(max_length=64, blank=False)]
Premium = NonNegativeAmount


class PolicyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "policy_number": "CASCO-2027-000123",
                    "client_id": "6f1c2a7e-4c1d-4c54-9a53-0d7d1b8f6a11",
                    "deal_id": "9b2e4f60-2d1a-4c7e-8f3b-5a6d7c8e9f01",
                    "premium": "125000.00",
                    "currency": "RUB",
                    "effective_from": "2027-01-01",
                    "effective_to": "2027-12-31",
                }
            ]
        },
    )

    policy_number: PolicyNumber = Field(description="Unique across all policies, deleted ones included.")
    client_id: UUID = Field(description="Must be the client of the deal.")
    deal_id: UUID
    owner_id: UUID | None = None
    status: PolicyStatus = PolicyStatus.DRAFT
    premium: Premium | None = Field(default=None, description="Required unless the policy is a draft.")
    currency: Currency | None = Field(default=None, description="ISO 4217; the service default when absent.")
    effective_from: Day | None = Field(default=None, description="First day of cover; required unless a draft.")
    effective_to: Day | None = Field(
        default=None, description="Last day of cover; not before `effective_from`; required unless a draft."
    )


class PolicyUpdate(PatchBody):
    """Partial update: absent fields stay, ``null`` clears a nullable field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "active"}]})

    policy_number: PolicyNumber | None = None
    client_id: UUID | None = None
    deal_id: UUID | None = None
    owner_id: UUID | None = None
    status: PolicyStatus | None = None
    premium: Premium | None = None
    currency: Currency | None = None
    effective_from: Day | None = None
    effective_to: Day | None = None

    # premium and the cover dates may be cleared while the policy is a draft.
    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"policy_number", "client_id", "deal_id", "status", "currency"})


class Policy(Record):
    policy_number: str
    client_id: UUID
    deal_id: UUID
    calculation_id: UUID | None = Field(description="The confirmed calculation linked to this policy (read-only).")
    owner_id: UUID | None
    status: PolicyStatus
    premium: Amount | None
    currency: str
    effective_from: date | None
    effective_to: date | None


class PolicyFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    deal_id: UUID | None = None
    client_id: UUID | None = None
    statuses: frozenset[PolicyStatus] | None = Field(default=None, description="None: any status.")
    expiring_before: date | None = Field(default=None, description="Only policies whose cover ends before this day.")
    search: SearchTerm | None = None
    page: PageRequest = PageRequest()
