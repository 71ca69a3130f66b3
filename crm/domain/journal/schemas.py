"""Deal journal: append-only notes on a deal, oldest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from crm.domain.pagination import PageRequest


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _reject_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here instead of failing inside the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Surrounding blank lines are dropped, so a body of only whitespace is empty and refused.
JournalBody = Annotated[
    str,
    BeforeValidator(_strip),
    StringConstraints(min_length=1, max_length=5000),
    AfterValidator(_reject_nul),
]


class JournalEntryCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"body": "Called the client: they want the quote by Friday."}]},
    )

    body: JournalBody


class JournalEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    deal_id: UUID
    author_id: UUID | None = Field(description="Who wrote the note: the caller; null for an anonymous caller.")
    body: str
    created_at: datetime


class JournalFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    deal_id: UUID
    page: PageRequest = PageRequest()
