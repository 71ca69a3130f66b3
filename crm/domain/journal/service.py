"""Deal journal use cases: read the notes of a deal, append one."""

from __future__ import annotations

from uuid import UUID, uuid4

from crm.domain.access import Access
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import DealNotFound
from crm.domain.events import DomainEvent
from crm.domain.idempotency import IdempotentRequest
from crm.domain.journal.repository import JournalReader
from crm.domain.journal.schemas import JournalEntry, JournalEntryCreate, JournalFilter
from crm.domain.pagination import Page
from crm.domain.uow import UnitOfWorkFactory


class JournalService:
    def __init__(self, uow: UnitOfWorkFactory, reader: JournalReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def list(self, query: JournalFilter, caller: Caller) -> Page[JournalEntry]:
        access = Access.of(caller)
        if not await self._reader.deal_is_live(query.deal_id, access):
            raise DealNotFound(f"Deal {query.deal_id} does not exist.")
        return await self._reader.page(query, access)

    async def append(
        self, deal_id: UUID, data: JournalEntryCreate, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> JournalEntry:
        """The author is the caller, never the body: the entry says who wrote it."""
        async with self._uow(caller, idempotency) as uow:
            entry = await uow.journal.append_to_live_deal(uuid4(), deal_id, data.body, caller.actor_id)
            if entry is None:
                raise DealNotFound(f"Deal {deal_id} does not exist.")
            served = entry.model_dump(mode="json")
            uow.record(
                DomainEvent(
                    routing_key="deal.journal.appended",
                    aggregate_id=deal_id,
                    # The contract's fields; the entry's own id travels as `entry_id`.
                    data={
                        "deal_id": served["deal_id"],
                        "entry_id": served["id"],
                        "author_id": served["author_id"],
                        "body": served["body"],
                        "created_at": served["created_at"],
                    },
                    occurred_at=self._clock.now(),
                )
            )
            await uow.commit(entry)
        return entry
