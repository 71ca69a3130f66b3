"""Deal use cases."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from crm.domain.access import Access, Resource, check_reassignment, owner_for, require_creator
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.deals.repository import DealReader
from crm.domain.deals.rules import (
    FINAL_STATUSES,
    STAGE_OF_STATUS,
    STATUS_OF_STAGE,
    DealStage,
    DealStatus,
    stage_figures,
    transition_refusal,
)
from crm.domain.deals.schemas import (
    Deal,
    DealCreate,
    DealFilter,
    DealUpdate,
    StageMetric,
    StageMetrics,
)
from crm.domain.errors import (
    ClientDeleted,
    ClientNotFound,
    DealHasPolicies,
    DealNotFound,
    FieldProblem,
    InvalidStageTransition,
    RuleViolation,
)
from crm.domain.events import DomainEvent, record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes


class DealService:
    def __init__(self, uow: UnitOfWorkFactory, reader: DealReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def get(self, deal_id: UUID, caller: Caller) -> Deal:
        deal = await self._reader.get(deal_id, Access.of(caller))
        if deal is None:
            raise DealNotFound(f"Deal {deal_id} does not exist.")
        return deal

    async def list(self, query: DealFilter, caller: Caller) -> Page[Deal]:
        return await self._reader.page(query, Access.of(caller))

    async def stage_metrics(self, query: DealFilter, caller: Caller) -> StageMetrics:
        rows = await self._reader.status_counts(query, Access.of(caller))
        return StageMetrics(
            items=[
                StageMetric(
                    stage=f.stage,
                    count=f.count,
                    total_value=f.total_value,
                    conversion_rate=f.conversion_rate,
                    avg_cycle_duration_days=f.avg_cycle_duration_days,
                )
                for f in stage_figures(rows)
            ]
        )

    async def create(self, data: DealCreate, caller: Caller, idempotency: IdempotentRequest | None = None) -> Deal:
        if data.status in FINAL_STATUSES:
            raise RuleViolation(
                "A deal starts open.",
                errors=[FieldProblem("status", f"a new deal cannot be {data.status}")],
            )
        require_creator(caller, Resource.DEAL)
        values = {**data.model_dump(), "owner_id": owner_for(caller, data.owner_id)}
        async with self._uow(caller, idempotency) as uow:
            # The lock keeps the client live until the deal commits (its foreign key alone would not).
            if not await uow.clients.lock_live_for_share(data.client_id):
                raise ClientNotFound(f"Client {data.client_id} does not exist.")
            deal = await uow.deals.add(uuid4(), values, caller.actor_id)
            uow.record(record_event("deal.created", deal, self._clock.now()))
            await uow.commit(deal)
        return deal

    async def update(self, deal_id: UUID, patch: DealUpdate, caller: Caller, *, if_match: int | None = None) -> Deal:
        changes = requested_changes(patch, DealUpdate.NOT_NULLABLE)
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, deal_id)
            check_version(current.version, if_match)
            changes = effective_changes(current, changes)
            if not changes:
                return current
            check_reassignment(caller, changes)
            if "client_id" in changes:
                if not await uow.clients.lock_live_for_share(changes["client_id"]):
                    raise ClientNotFound(f"Client {changes['client_id']} does not exist.")
                # A policy's client must be its deal's client; moving the deal would break that.
                await self._refuse_with_policies(uow, deal_id, "move it to another client")
            if "status" in changes:
                self._check_transition(current, changes["status"], caller)
                changes.update(self._closing_changes(current, changes["status"]))
            deal = await uow.deals.update(deal_id, changes, caller.actor_id)
            self._record_update(uow, current, deal, caller)
            await uow.commit()
        return deal

    async def change_stage(
        self, deal_id: UUID, stage: DealStage, caller: Caller, *, if_match: int | None = None
    ) -> Deal:
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, deal_id)
            check_version(current.version, if_match)
            if current.stage == stage:
                return current
            target = STATUS_OF_STAGE[stage]
            self._check_transition(current, target, caller)
            changes: dict[str, Any] = {"status": target, **self._closing_changes(current, target)}
            deal = await uow.deals.update(deal_id, changes, caller.actor_id)
            self._record_update(uow, current, deal, caller)
            await uow.commit()
        return deal

    async def delete(self, deal_id: UUID, caller: Caller, *, if_match: int | None = None) -> None:
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, deal_id)
            check_version(current.version, if_match)
            await self._refuse_with_policies(uow, deal_id, "delete it")
            deal = await uow.deals.set_deleted(deal_id, True, caller.actor_id)
            uow.record(record_event("deal.deleted", deal, self._clock.now()))
            await uow.commit()

    async def restore(self, deal_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None) -> Deal:
        """Undo a soft delete; restoring a live deal changes nothing. Its client must be live."""
        async with self._uow(caller, idempotency) as uow:
            current = await uow.deals.get_for_update(deal_id)
            if current is None:
                raise DealNotFound(f"Deal {deal_id} does not exist.")
            if not current.is_deleted:
                return current
            if not await uow.clients.lock_live_for_share(current.client_id):
                raise ClientDeleted(f"Client {current.client_id} of this deal is deleted; restore it first.")
            deal = await uow.deals.set_deleted(deal_id, False, caller.actor_id)
            uow.record(record_event("deal.restored", deal, self._clock.now()))
            await uow.commit(deal)
        return deal

    @staticmethod
    async def _live_for_update(uow: UnitOfWork, deal_id: UUID) -> Deal:
        deal = await uow.deals.get_for_update(deal_id)
        if deal is None or deal.is_deleted:
            raise DealNotFound(f"Deal {deal_id} does not exist.")
        return deal

    @staticmethod
    async def _refuse_with_policies(uow: UnitOfWork, deal_id: UUID, action: str) -> None:
        policies = await uow.deals.count_live_policies(deal_id)
        if policies:
            raise DealHasPolicies(f"Deal {deal_id} has {policies} live policy(ies); delete them before you {action}.")

    @staticmethod
    def _check_transition(current: Deal, target: DealStatus, caller: Caller) -> None:
        refusal = transition_refusal(current.status, target, is_admin=caller.is_admin)
        if refusal is not None:
            raise InvalidStageTransition(
                f"Cannot move deal from {current.status} to {target}: {refusal}.",
                errors=[FieldProblem("status", refusal)],
            )

    def _closing_changes(self, current: Deal, target: DealStatus) -> dict[str, Any]:
        if target in FINAL_STATUSES and current.status not in FINAL_STATUSES:
            return {"closed_at": self._clock.now()}
        if target not in FINAL_STATUSES and current.status in FINAL_STATUSES:
            return {"closed_at": None}
        return {}

    def _record_update(self, uow: UnitOfWork, before: Deal, after: Deal, caller: Caller) -> None:
        uow.record(record_event("deal.updated", after, self._clock.now()))
        old_stage, new_stage = STAGE_OF_STATUS[before.status], STAGE_OF_STATUS[after.status]
        if old_stage != new_stage:
            uow.record(
                DomainEvent(
                    routing_key="deal.stage.changed",
                    aggregate_id=after.id,
                    data={
                        "deal_id": str(after.id),
                        "old_stage": old_stage.value,
                        "new_stage": new_stage.value,
                        "actor_id": str(caller.actor_id) if caller.actor_id else None,
                    },
                    occurred_at=self._clock.now(),
                )
            )
