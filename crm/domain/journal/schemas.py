"""Deal journal: append-only notes on a deal, oldest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from crm.domain.pagination import PageRequest
from crm.domain.types import Text

# Surrounding blank lines are dropped, so a body of only whitespace is empty and refused.
JournalBody = Annotated[str, Text(max_length=5000, blank=False)]


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
