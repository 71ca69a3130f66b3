"""Leads and their appeals: what a contact through a source brings in, who it went to, and why.

A lead is a person, one per ``external_id`` across every source; an appeal is one contact of a lead through a
source, ``open`` until closed (or converted into a client's deal). Every decision about an appeal's operator is
logged as an ``Assignment`` with the candidates as they stood at that moment.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.pagination import PageRequest
from crm.domain.records import Record
from crm.domain.types import Day, Email, LongText, Name, Phone, SearchTerm, Title
from crm.domain.versioning import PatchBody

ExternalId = Name
"""How the channel knows the person (a Telegram user id, a form's e-mail, a partner's reference): 1..255."""


class LeadCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"external_id": "tg:401234567", "name": "Ivan Sidorov", "phone": "+7 900"}]},
    )

    external_id: ExternalId = Field(description="Unique among live leads.")
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None


class LeadUpdate(PatchBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"email": "ivan@example.com"}]})

    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None


class Lead(Record):
    external_id: str
    name: str | None
    phone: str | None
    email: str | None
    client_id: UUID | None = Field(description="The client the lead was converted into (or found to be).")


class LeadFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    search: SearchTerm | None = None
    converted: bool | None = None
    page: PageRequest = PageRequest()


class AppealStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class AppealCreate(BaseModel):
    """A contact through a source: the lead is found by ``external_id`` (or made), the appeal distributed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source_id": "3b9d6c1e-2f4a-4e8b-9c7d-5a6b7c8d9e0f",
                    "external_id": "tg:401234567",
                    "name": "Ivan Sidorov",
                    "message": "Need CASCO for two trucks",
                }
            ]
        },
    )

    source_id: UUID
    external_id: ExternalId
    name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    message: LongText | None = None

    def contact(self) -> LeadCreate:
        """The lead's part of the appeal, as checked already (not checked again: a value's checks may see it only
        before it is normalised)."""
        return LeadCreate.model_construct(
            external_id=self.external_id, name=self.name, phone=self.phone, email=self.email
        )


class Appeal(Record):
    lead_id: UUID
    source_id: UUID
    operator_id: UUID | None = Field(description="Null while the appeal waits for a free operator.")
    status: AppealStatus
    message: str | None
    assigned_at: datetime | None
    first_action_at: datetime | None = Field(description="The first close, conversion or reassignment.")
    closed_at: datetime | None
    closed_by_id: UUID | None
    resolution: str | None
    deal_id: UUID | None = Field(description="The deal the appeal was converted into.")


class AppealFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    source_id: UUID | None = None
    operator_id: UUID | None = None
    lead_id: UUID | None = None
    status: AppealStatus | None = None
    unassigned: bool | None = None
    page: PageRequest = PageRequest()


class AppealClose(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"resolution": "Spam"}]})

    resolution: LongText | None = None


class AppealReassign(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"operator_id": "0b7e4c2a-1d3f-4a5b-8c9d-0e1f2a3b4c5d"}]}
    )

    operator_id: UUID | None = Field(
        default=None, description="The operator to hand it to; absent: distribute it again among the others."
    )


class AppealConvert(BaseModel):
    """What the new deal gets; the client comes from the lead (or is an existing one found by phone or e-mail)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "CASCO for two trucks", "next_review_at": "2026-12-08"}]},
    )

    title: Title | None = Field(default=None, description="The deal's title; default: from the appeal.")
    next_review_at: Day | None = Field(default=None, description="Default: today in the business time zone.")
    client_id: UUID | None = Field(default=None, description="Link this client instead of looking one up.")
    owner_id: UUID | None = Field(default=None, description="Owner of a new client and of the deal.")


class AssignmentReason(StrEnum):
    WEIGHTED = "weighted"  # drawn among the candidates by weight
    STICKY = "sticky"  # the operator of the lead's open appeal on the same source
    BACKLOG = "backlog"  # pulled from the unassigned queue when the operator had room
    MANUAL = "manual"  # handed to a named operator
    UNASSIGNED = "unassigned"  # no operator could take it


class Exclusion(StrEnum):
    """Why a listed operator was not a candidate."""

    INACTIVE = "inactive"
    ZERO_WEIGHT = "zero_weight"
    ABSENT = "absent"
    OFF_HOURS = "off_hours"
    AT_CAPACITY = "at_capacity"
    CURRENT = "current"  # a reassignment away from them


class CandidateView(BaseModel):
    model_config = ConfigDict(frozen=True)

    operator_id: UUID
    weight: int
    load: int
    max_load: int
    excluded: Exclusion | None = Field(description="Null: a candidate, drawn with probability weight / sum.")


class Assignment(BaseModel):
    """One decision about an appeal's operator."""

    model_config = ConfigDict(frozen=True)

    appeal_id: UUID
    operator_id: UUID | None
    previous_operator_id: UUID | None
    reason: AssignmentReason
    candidates: list[CandidateView]
    decided_at: datetime
    decided_by_id: UUID | None


class AssignmentLog(BaseModel):
    """The appeal's current assignment and every decision before it, oldest first."""

    current: Assignment
    history: list[Assignment]
