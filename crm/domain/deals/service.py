"""Deal use cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from crm.domain.access import Access, Resource, check_reassignment, owner_for, require_creator
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.deals.repository import DealReader
from crm.domain.deals.rules import (
    FINAL_STATUSES,
    DealStatus,
    stage_figures,
    stage_for_status,
    status_in,
    transition_refusal,
)
from crm.domain.deals.schemas import (
    Deal,
    DealCreate,
    DealFilter,
    DealUpdate,
    PipelineMove,
    StageChange,
    StageHistoryEntry,
    StageMetric,
    StageMetrics,
)
from crm.domain.deals.stages import lost_reason_in, open_deal, place_of, record_deal_change, stage_changes
from crm.domain.errors import (
    ClientDeleted,
    ClientNotFound,
    DealHasPolicies,
    DealNotFound,
    FieldProblem,
    InvalidInput,
    InvalidStageTransition,
    PipelineNotFound,
    RuleViolation,
    StageRequired,
)
from crm.domain.events import record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page, PageRequest
from crm.domain.pipelines.repository import PipelineReader
from crm.domain.pipelines.schemas import Pipeline, Stage
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes


class DealService:
    def __init__(self, uow: UnitOfWorkFactory, reader: DealReader, pipelines: PipelineReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._pipelines = pipelines
        self._clock = clock

    async def get(self, deal_id: UUID, caller: Caller) -> Deal:
        deal = await self._reader.get(deal_id, Access.of(caller))
        if deal is None:
            raise DealNotFound(f"Deal {deal_id} does not exist.")
        return deal

    async def list(self, query: DealFilter, caller: Caller) -> Page[Deal]:
        await self._check_stage_keys(query)
        return await self._reader.page(query, Access.of(caller))

    async def stage_metrics(self, query: DealFilter, caller: Caller) -> StageMetrics:
        """One row per stage of the pipeline (the default one unless ``query`` names one), in its order."""
        if query.pipeline_id is None:
            pipeline = await self._pipelines.default()
        else:
            pipeline = await self._pipelines.get(query.pipeline_id)
        if pipeline is None:
            raise PipelineNotFound(
                f"Pipeline {query.pipeline_id} does not exist.",
                errors=[FieldProblem("pipeline_id", "no such pipeline")],
            )
        await self._check_stage_keys(query)
        rows = await self._reader.stage_counts(query.model_copy(update={"pipeline_id": pipeline.id}), Access.of(caller))
        return StageMetrics(
            items=[
                StageMetric(
                    stage=f.stage,
                    count=f.count,
                    total_value=f.total_value,
                    conversion_rate=f.conversion_rate,
                    avg_cycle_duration_days=f.avg_cycle_duration_days,
                )
                for f in stage_figures(pipeline.stages, rows)
            ]
        )

    async def stage_history(self, deal_id: UUID, page: PageRequest, caller: Caller) -> Page[StageHistoryEntry]:
        """Oldest first; whoever sees the deal sees its history."""
        await self.get(deal_id, caller)
        return await self._reader.stage_history(deal_id, page)

    async def create(self, data: DealCreate, caller: Caller, idempotency: IdempotentRequest | None = None) -> Deal:
        if data.status in FINAL_STATUSES:
            raise RuleViolation(
                "A deal starts open.",
                errors=[FieldProblem("status", f"a new deal cannot be {data.status}")],
            )
        require_creator(caller, Resource.DEAL)
        owner_id = owner_for(caller, data.owner_id)
        async with self._uow(caller, idempotency) as uow:
            # The lock keeps the client live until the deal commits (its foreign key alone would not).
            if not await uow.clients.lock_live_for_share(data.client_id):
                raise ClientNotFound(f"Client {data.client_id} does not exist.")
            deal = await open_deal(uow, data, owner_id, caller, self._clock.now())
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
            now = self._clock.now()
            if "status" in changes or "lost_reason" in changes:
                pipeline, here = await place_of(uow, current)
                status: DealStatus = changes.get("status", current.status)
                target = stage_for_status(status, pipeline.stages, here) if "status" in changes else here
                if target is None:
                    raise StageRequired(
                        f"More than one stage of pipeline {pipeline.id} could hold a {status} deal; move it with "
                        "PATCH /deals/{id}/stage.",
                        errors=[FieldProblem("status", "name the stage instead")],
                    )
                reason = changes.pop("lost_reason", current.lost_reason)
                given = "lost_reason" in patch.model_fields_set
                changes.update(placement(current, pipeline, target, status, reason, given, caller, now))
            changes = effective_changes(current, changes)
            if not changes:
                return current
            deal = await uow.deals.update(deal_id, changes, caller.actor_id)
            await record_deal_change(uow, current, deal, caller, now)
            await uow.commit()
        return deal

    async def change_stage(
        self, deal_id: UUID, body: StageChange, caller: Caller, *, if_match: int | None = None
    ) -> Deal:
        """To a stage of the deal's pipeline; its status follows (``status_in``)."""
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, deal_id)
            check_version(current.version, if_match)
            pipeline, _ = await place_of(uow, current)
            target = stage_keyed(pipeline, body.stage)
            deal = await move_deal(uow, current, pipeline, target, body.lost_reason, caller, self._clock.now())
            if deal is None:
                return current
            await uow.commit()
        return deal

    async def move_to_pipeline(
        self, deal_id: UUID, body: PipelineMove, caller: Caller, *, if_match: int | None = None
    ) -> Deal:
        """To the stage ``body`` names in the other pipeline, else the one with the deal's stage key, else the only
        one of its stage's kind (422 ``stage_required`` otherwise)."""
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, deal_id)
            check_version(current.version, if_match)
            pipeline = await uow.pipelines.lock_for_deals(body.pipeline_id)
            if pipeline is None:
                raise PipelineNotFound(
                    f"Pipeline {body.pipeline_id} does not exist.",
                    errors=[FieldProblem("pipeline_id", "no such pipeline")],
                )
            if body.stage is not None:
                target = stage_keyed(pipeline, body.stage)
            else:
                target = pipeline.stage_keyed(current.stage) or await self._same_kind(uow, current, pipeline)
            deal = await move_deal(uow, current, pipeline, target, body.lost_reason, caller, self._clock.now())
            if deal is None:
                return current
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
        """Undo a soft delete; restoring a live deal changes nothing. Its client, pipeline and stage must be live."""
        async with self._uow(caller, idempotency) as uow:
            current = await uow.deals.get_for_update(deal_id)
            if current is None:
                raise DealNotFound(f"Deal {deal_id} does not exist.")
            if not current.is_deleted:
                return current
            if not await uow.clients.lock_live_for_share(current.client_id):
                raise ClientDeleted(f"Client {current.client_id} of this deal is deleted; restore it first.")
            await place_of(uow, current)
            deal = await uow.deals.set_deleted(deal_id, False, caller.actor_id)
            uow.record(record_event("deal.restored", deal, self._clock.now()))
            await uow.commit(deal)
        return deal

    async def _check_stage_keys(self, query: DealFilter) -> None:
        if not query.stages:
            return
        known = await self._pipelines.stage_keys(sorted(query.stages), query.pipeline_id)
        unknown = sorted(query.stages - known)
        if unknown:
            raise InvalidInput(
                "No pipeline has a stage with some of these keys.",
                errors=[FieldProblem("stage", f"{key!r} is no stage key") for key in unknown],
            )

    @staticmethod
    async def _same_kind(uow: UnitOfWork, current: Deal, pipeline: Pipeline) -> Stage:
        here = await uow.pipelines.stage_of_any(current.stage_id)
        alike = [stage for stage in pipeline.stages if here is not None and stage.kind == here.kind]
        if len(alike) != 1:
            raise StageRequired(
                f"Pipeline {pipeline.id} has no stage {current.stage!r} and {len(alike)} stage(s) of its kind.",
                errors=[FieldProblem("stage", "name the stage of the pipeline the deal goes to")],
            )
        return alike[0]

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


async def move_deal(
    uow: UnitOfWork,
    current: Deal,
    pipeline: Pipeline,
    target: Stage,
    reason: str | None,
    caller: Caller,
    now: datetime,
) -> Deal | None:
    """Put ``current`` in ``target`` (with ``reason`` when it is a lost stage), with its history row and events;
    ``None`` when nothing changes. A person's move and an automation rule's alike."""
    status = status_in(target, current.status)
    given = reason is not None
    kept = reason if given else current.lost_reason
    changes = placement(current, pipeline, target, status, kept, given, caller, now)
    changes = effective_changes(current, changes)
    if not changes:
        return None
    deal = await uow.deals.update(current.id, changes, caller.actor_id)
    await record_deal_change(uow, current, deal, caller, now)
    return deal


def placement(
    current: Deal,
    pipeline: Pipeline,
    target: Stage,
    status: DealStatus,
    reason: str | None,
    given: bool,
    caller: Caller,
    now: datetime,
) -> dict[str, Any]:
    """The columns of ``current`` in ``target`` with ``status``: the transition checked, the lost reason the
    stage asks for, closing or reopening, and the move itself when it is another stage."""
    refusal = transition_refusal(current.status, status, is_admin=caller.is_admin)
    if refusal is not None:
        raise InvalidStageTransition(
            f"Cannot move deal from {current.status} to {status}: {refusal}.",
            errors=[FieldProblem("status", refusal)],
        )
    changes: dict[str, Any] = {
        "status": status,
        "lost_reason": lost_reason_in(pipeline, target, reason, given=given),
        **_closing_changes(current, status, now),
    }
    if target.id != current.stage_id:
        changes.update(stage_changes(target, now))
    return changes


def stage_keyed(pipeline: Pipeline, key: str) -> Stage:
    stage = pipeline.stage_keyed(key)
    if stage is None:
        raise InvalidInput(
            f"Pipeline {pipeline.id} has no stage {key!r}.",
            errors=[FieldProblem("stage", f"not a stage of the pipeline: {[s.key for s in pipeline.stages]}")],
        )
    return stage


def _closing_changes(current: Deal, target: DealStatus, now: datetime) -> dict[str, Any]:
    if target in FINAL_STATUSES and current.status not in FINAL_STATUSES:
        return {"closed_at": now}
    if target not in FINAL_STATUSES and current.status in FINAL_STATUSES:
        return {"closed_at": None}
    return {}
