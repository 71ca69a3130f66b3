"""HTTP routes of the deal journal: append-only notes on a deal."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from crm.api.deps import Answer, CurrentCaller, Services
from crm.api.params import page_request
from crm.api.problems import problem_responses
from crm.api.responses import page_response
from crm.domain.journal.schemas import JournalEntry, JournalEntryCreate, JournalFilter
from crm.domain.pagination import Page, PageRequest

# Append-only: no PATCH or DELETE, so those methods answer 405.
router = APIRouter(prefix="/api/v1/deals/{deal_id}/journal", tags=["journal"])


@router.get(
    "",
    response_model=Page[JournalEntry],
    responses=problem_responses(400, 404, 422),
    summary="List the notes of a deal",
)
async def list_journal(
    deal_id: UUID, caller: CurrentCaller, services: Services, page: Annotated[PageRequest, Depends(page_request)]
) -> Response:
    """Oldest first (`created_at`, then `id`)."""
    return page_response(
        await services.journal.list(JournalFilter(deal_id=deal_id, page=page), caller), services.cursors
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JournalEntry,
    responses=problem_responses(400, 404, 409, 422),
    summary="Append a note to a deal",
)
async def append_journal_entry(
    deal_id: UUID, body: JournalEntryCreate, caller: CurrentCaller, services: Services, answer: Answer
) -> Response:
    """`author_id` is the caller (the token's `sub`). Whoever sees the deal writes its journal, executors on its
    team included."""
    return answer(await services.journal.append(deal_id, body, caller, answer.idempotency))
