"""Deal team use cases: who besides the owner works on a deal, which decides who else sees it."""

from __future__ import annotations

from uuid import UUID

from crm.domain.access import Access
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.deals.repository import DealMemberReader
from crm.domain.deals.schemas import DealMember, DealMemberCreate
from crm.domain.errors import DealNotFound, FieldProblem, MemberExists, MemberNotFound
from crm.domain.events import DomainEvent
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page, PageRequest
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory


class DealTeamService:
    def __init__(self, uow: UnitOfWorkFactory, reader: DealMemberReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def list(self, deal_id: UUID, page: PageRequest, caller: Caller) -> Page[DealMember]:
        access = Access.of(caller)
        if not await self._reader.deal_is_live(deal_id, access):
            raise DealNotFound(f"Deal {deal_id} does not exist.")
        return await self._reader.page(deal_id, page, access)

    async def add(
        self, deal_id: UUID, data: DealMemberCreate, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> DealMember:
        """Whoever may change the deal puts people on its team; someone already on it is a conflict (take them
        off first to change their role)."""
        async with self._uow(caller, idempotency) as uow:
            await self._lock_live_deal(uow, deal_id)
            member = await uow.deal_members.add(deal_id, data.user_id, data.role, caller.actor_id)
            if member is None:
                raise MemberExists(
                    f"User {data.user_id} is on the team of deal {deal_id} already.",
                    errors=[FieldProblem("user_id", "already on the team")],
                )
            uow.record(self._event("deal.member.added", member, caller))
            await uow.commit(member)
        return member

    async def remove(self, deal_id: UUID, user_id: UUID, caller: Caller) -> None:
        async with self._uow(caller) as uow:
            await self._lock_live_deal(uow, deal_id)
            member = await uow.deal_members.remove(deal_id, user_id)
            if member is None:
                raise MemberNotFound(f"User {user_id} is not on the team of deal {deal_id}.")
            uow.record(self._event("deal.member.removed", member, caller))
            await uow.commit()

    @staticmethod
    async def _lock_live_deal(uow: UnitOfWork, deal_id: UUID) -> None:
        """The deal is live, the caller may change it, and it stays live until the change commits."""
        if not (await uow.deals.reach(deal_id, change=True) and await uow.deals.lock_live_for_share(deal_id)):
            raise DealNotFound(f"Deal {deal_id} does not exist.")

    def _event(self, routing_key: str, member: DealMember, caller: Caller) -> DomainEvent:
        data = member.model_dump(mode="json")
        data["actor_id"] = str(caller.actor_id) if caller.actor_id else None
        return DomainEvent(routing_key, member.deal_id, data, self._clock.now())
