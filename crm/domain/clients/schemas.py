"""Clients: a person or company the broker sells to."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.pagination import PageRequest
from crm.domain.records import Record
from crm.domain.types import Email, Name, Phone, SearchTerm
from crm.domain.versioning import PatchBody


class ClientStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    PROSPECT = "prospect"


class ClientCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Acme Logistics LLC", "email": "office@acme.example", "phone": "+7 495 123-45-67"}]
        },
    )

    name: Name
    email: Email | None = None
    phone: Phone | None = None
    status: ClientStatus = ClientStatus.ACTIVE
    owner_id: UUID | None = Field(default=None, description="Responsible user; null = unassigned.")


class ClientUpdate(PatchBody):
    """Partial update: absent fields stay, ``null`` clears a nullable field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"status": "inactive"}]})

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    status: ClientStatus | None = None
    owner_id: UUID | None = None

    NOT_NULLABLE: ClassVar[frozenset[str]] = frozenset({"name", "status"})


class Client(Record):
    name: str
    email: str | None
    phone: str | None
    status: ClientStatus
    owner_id: UUID | None


class ClientFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    search: SearchTerm | None = None
    status: ClientStatus | None = None
    owner_id: UUID | None = None
    page: PageRequest = PageRequest()
