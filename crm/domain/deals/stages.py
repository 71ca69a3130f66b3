"""Where a deal stands: the pipeline and stage a new deal starts in, the lost reason a stage asks for, and the
record every move from one stage to another leaves (a history row and ``deal.stage.changed``), written in the
transaction of the move.

Every deal use case that places a deal goes through here, whoever calls it (the deals API, an appeal's
conversion): the history has a row for every stage a deal ever stood in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from crm.domain.caller import Caller
from crm.domain.deals.rules import stage_for_status, status_in
from crm.domain.deals.schemas import Deal, DealCreate, StageChangeSource, StageTransition
from crm.domain.errors import (
    FieldProblem,
    InvalidLostReason,
    LostReasonRequired,
    PipelineDeleted,
    PipelineNotFound,
    StageDeleted,
    StageRequired,
)
from crm.domain.events import DomainEvent, record_event
from crm.domain.pipelines.rules import StageKind
from crm.domain.pipelines.schemas import Pipeline, Stage
from crm.domain.uow import UnitOfWork


async def pipeline_for_new_deal(uow: UnitOfWork, pipeline_id: UUID | None) -> Pipeline:
    """The live pipeline a deal is created in (the default one unless named), held until the deal commits."""
    pipeline = await uow.pipelines.lock_for_deals(pipeline_id)
    if pipeline is None:
        raise PipelineNotFound(
            f"Pipeline {pipeline_id} does not exist.", errors=[FieldProblem("pipeline_id", "no such pipeline")]
        )
    return pipeline


async def place_of(uow: UnitOfWork, deal: Deal) -> tuple[Pipeline, Stage]:
    """The deal's pipeline and stage, held until the transaction ends. A live deal always stands in a live stage;
    a deleted one may not any more (its restore is refused then)."""
    pipeline = await uow.pipelines.lock_for_deals(deal.pipeline_id)
    if pipeline is None:
        raise PipelineDeleted(f"Pipeline {deal.pipeline_id} of deal {deal.id} is deleted; restore it first.")
    stage = pipeline.stage(deal.stage_id)
    if stage is None:
        raise StageDeleted(f"Stage {deal.stage!r} of deal {deal.id} is deleted; restore it first.")
    return pipeline, stage


def lost_reason_in(pipeline: Pipeline, stage: Stage, reason: str | None, *, given: bool) -> str | None:
    """The lost reason of a deal once in ``stage``: ``reason`` (``given`` in the request, or kept from before) in a
    lost stage — required when the pipeline says so, one of its list unless the list is empty —, none elsewhere."""
    if stage.kind != StageKind.LOST:
        if given and reason is not None:
            raise InvalidLostReason(
                f"Only a deal in a lost stage has a lost reason; {stage.key!r} is a {stage.kind} stage.",
                errors=[FieldProblem("lost_reason", "only for a lost stage")],
            )
        return None
    if reason is None:
        if pipeline.lost_reason_required:
            raise LostReasonRequired(
                f"Moving a deal to {stage.key!r} needs a lost reason.",
                errors=[FieldProblem("lost_reason", "required for a lost stage")],
            )
        return None
    if pipeline.lost_reasons and reason not in pipeline.lost_reasons:
        raise InvalidLostReason(
            f"The lost reason must be one of the pipeline's: {pipeline.lost_reasons}.",
            errors=[FieldProblem("lost_reason", "not one of the pipeline's lost reasons")],
        )
    return reason


def stage_changes(stage: Stage, now: datetime) -> dict[str, Any]:
    """The columns of a deal that comes into ``stage`` at ``now``."""
    return {"pipeline_id": stage.pipeline_id, "stage_id": stage.id, "stage_entered_at": now}


async def open_deal(uow: UnitOfWork, data: DealCreate, owner_id: UUID | None, caller: Caller, now: datetime) -> Deal:
    """Create the deal in the stage its status names in its pipeline (else the pipeline's first open stage), with
    the first row of its history and ``deal.created``."""
    pipeline = await pipeline_for_new_deal(uow, data.pipeline_id)
    stage = stage_for_status(data.status, pipeline.stages, None)
    if stage is None:
        raise StageRequired(
            f"Pipeline {pipeline.id} has no stage for a {data.status} deal.",
            errors=[FieldProblem("status", "no stage of the pipeline holds it")],
        )
    values = {
        **data.model_dump(exclude={"pipeline_id"}),
        "owner_id": owner_id,
        "status": status_in(stage, data.status),
        **stage_changes(stage, now),
    }
    deal = await uow.deals.add(uuid4(), values, caller.actor_id)
    await uow.deals.add_stage_transition(
        StageTransition(
            deal_id=deal.id,
            from_stage_id=None,
            from_stage=None,
            from_pipeline_id=None,
            to_stage_id=stage.id,
            to_stage=stage.key,
            to_pipeline_id=pipeline.id,
            actor_id=caller.actor_id,
            source=StageChangeSource.CREATED,
            at=now,
            seconds_in_previous=None,
        )
    )
    uow.record(record_event("deal.created", deal, now))
    return deal


async def record_deal_change(uow: UnitOfWork, before: Deal, after: Deal, caller: Caller, now: datetime) -> None:
    """``deal.updated``; and when the deal changed stage, its history row and ``deal.stage.changed``."""
    uow.record(record_event("deal.updated", after, now))
    if before.stage_id == after.stage_id:
        return
    await uow.deals.add_stage_transition(
        StageTransition(
            deal_id=after.id,
            from_stage_id=before.stage_id,
            from_stage=before.stage,
            from_pipeline_id=before.pipeline_id,
            to_stage_id=after.stage_id,
            to_stage=after.stage,
            to_pipeline_id=after.pipeline_id,
            actor_id=caller.actor_id,
            source=StageChangeSource.MANUAL if caller.rule_id is None else StageChangeSource.RULE,
            at=now,
            seconds_in_previous=max(0, int((now - before.stage_entered_at).total_seconds())),
            rule_id=caller.rule_id,
        )
    )
    data = {
        "deal_id": str(after.id),
        "old_stage": before.stage,
        "new_stage": after.stage,
        "actor_id": str(caller.actor_id) if caller.actor_id else None,
        "rule_id": str(caller.rule_id) if caller.rule_id else None,
        "pipeline_id": str(after.pipeline_id),
        "old_pipeline_id": str(before.pipeline_id),
        "lost_reason": after.lost_reason,
    }
    uow.record(DomainEvent("deal.stage.changed", after.id, data, now))
