"""Pipeline use cases: anyone signed in reads pipelines; admins and managers change them and their stages.

A stage change is a change of its pipeline: it bumps the pipeline's version and is announced as
``pipeline.updated`` carrying the whole pipeline, stages in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from crm.domain.access import require_privileged
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import (
    FieldProblem,
    InvalidInput,
    LastStageOfKind,
    PipelineHasDeals,
    PipelineIsDefault,
    PipelineNotFound,
    StageHasDeals,
    StageKeyConflict,
    StageNotFound,
)
from crm.domain.events import record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page
from crm.domain.pipelines.repository import PipelineReader
from crm.domain.pipelines.rules import contract_kind_problem, default_probability, stage_set_problems
from crm.domain.pipelines.schemas import (
    Pipeline,
    PipelineCreate,
    PipelineFilter,
    PipelineUpdate,
    Stage,
    StageCreate,
    StageUpdate,
)
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, requested_changes

CHANGE = "change pipelines and their stages"


def _stage_values(data: StageCreate) -> dict[str, Any]:
    values = data.model_dump()
    if values["probability"] is None:
        values["probability"] = default_probability(data.kind)
    return values


class PipelineService:
    def __init__(self, uow: UnitOfWorkFactory, reader: PipelineReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def get(self, pipeline_id: UUID) -> Pipeline:
        pipeline = await self._reader.get(pipeline_id)
        if pipeline is None:
            raise PipelineNotFound(f"Pipeline {pipeline_id} does not exist.")
        return pipeline

    async def list(self, query: PipelineFilter) -> Page[Pipeline]:
        return await self._reader.page(query)

    async def create(
        self, data: PipelineCreate, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Pipeline:
        """A name a live pipeline has already is a 409 ``pipeline_name_conflict``."""
        require_privileged(caller, CHANGE)
        problems = stage_set_problems(data.stages)
        if problems:
            raise InvalidInput("The stages do not make a pipeline.", errors=problems)
        async with self._uow(caller, idempotency) as uow:
            pipeline_id = uuid4()
            if data.is_default:
                await self._drop_default(uow, pipeline_id, caller)
            await uow.pipelines.add(pipeline_id, data.model_dump(exclude={"stages"}), caller.actor_id)
            await uow.pipelines.add_stages(pipeline_id, [_stage_values(stage) for stage in data.stages])
            pipeline = await self._live_for_update(uow, pipeline_id)
            uow.record(record_event("pipeline.created", pipeline, self._clock.now()))
            await uow.commit(pipeline)
        return pipeline

    async def update(
        self, pipeline_id: UUID, patch: PipelineUpdate, caller: Caller, *, if_match: int | None = None
    ) -> Pipeline:
        require_privileged(caller, CHANGE)
        named = set(requested_changes(patch, PipelineUpdate.NOT_NULLABLE))
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, pipeline_id)
            check_version(current.version, if_match)
            wanted = patch.model_dump(include=named)
            changes = {name: value for name, value in wanted.items() if getattr(current, name) != value}
            if not changes:
                return current
            if changes.get("is_default"):
                await self._drop_default(uow, pipeline_id, caller)
            pipeline = await uow.pipelines.update(pipeline_id, changes, caller.actor_id)
            uow.record(record_event("pipeline.updated", pipeline, self._clock.now()))
            await uow.commit()
        return pipeline

    async def delete(self, pipeline_id: UUID, caller: Caller, *, if_match: int | None = None) -> None:
        """Refused for the default pipeline and while live deals are in it; its stages stay with it."""
        require_privileged(caller, CHANGE)
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, pipeline_id)
            check_version(current.version, if_match)
            if current.is_default:
                raise PipelineIsDefault("The default pipeline cannot be deleted; make another one the default first.")
            deals = await uow.pipelines.count_live_deals(pipeline_id)
            if deals:
                raise PipelineHasDeals(f"{deals} live deal(s) are in pipeline {pipeline_id}; move them first.")
            pipeline = await uow.pipelines.set_deleted(pipeline_id, True, caller.actor_id)
            uow.record(record_event("pipeline.deleted", pipeline, self._clock.now()))
            await uow.commit()

    async def restore(
        self, pipeline_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Pipeline:
        """Undo a soft delete; a live pipeline stays as it is. Its name being another live pipeline's by now is a
        409 ``pipeline_name_conflict``."""
        require_privileged(caller, CHANGE)
        async with self._uow(caller, idempotency) as uow:
            current = await uow.pipelines.get_for_update(pipeline_id)
            if current is None:
                raise PipelineNotFound(f"Pipeline {pipeline_id} does not exist.")
            if not current.is_deleted:
                return current
            pipeline = await uow.pipelines.set_deleted(pipeline_id, False, caller.actor_id)
            uow.record(record_event("pipeline.restored", pipeline, self._clock.now()))
            await uow.commit(pipeline)
        return pipeline

    async def add_stage(
        self, pipeline_id: UUID, data: StageCreate, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Stage:
        """Appended to the pipeline's order; a key a live stage of the pipeline has is a 409
        ``stage_key_conflict``."""
        require_privileged(caller, CHANGE)
        wrong_kind = contract_kind_problem(data)
        if wrong_kind is not None:
            raise InvalidInput("A contract stage key keeps its kind.", errors=[FieldProblem("kind", wrong_kind)])
        async with self._uow(caller, idempotency) as uow:
            current = await self._live_for_update(uow, pipeline_id)
            if current.stage_keyed(data.key) is not None:
                raise StageKeyConflict(
                    f"Pipeline {pipeline_id} has a stage keyed {data.key!r} already.",
                    errors=[FieldProblem("key", "another stage of the pipeline has this key")],
                )
            [stage] = await uow.pipelines.add_stages(pipeline_id, [_stage_values(data)])
            await self._record_stages_changed(uow, pipeline_id, caller)
            await uow.commit(stage)
        return stage

    async def update_stage(self, pipeline_id: UUID, stage_id: UUID, patch: StageUpdate, caller: Caller) -> Stage:
        require_privileged(caller, CHANGE)
        named = set(requested_changes(patch, StageUpdate.NOT_NULLABLE))
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, pipeline_id)
            stage = self._live_stage(current, stage_id)
            wanted = patch.model_dump(include=named)
            changes = {name: value for name, value in wanted.items() if getattr(stage, name) != value}
            if not changes:
                return stage
            stage = await uow.pipelines.update_stage(stage_id, changes)
            await self._record_stages_changed(uow, pipeline_id, caller)
            await uow.commit()
        return stage

    async def remove_stage(self, pipeline_id: UUID, stage_id: UUID, caller: Caller) -> None:
        """Refused while live deals stand in the stage (409 ``stage_has_deals``) and for the pipeline's last stage
        of its kind (409 ``last_stage_of_kind``)."""
        require_privileged(caller, CHANGE)
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, pipeline_id)
            stage = self._live_stage(current, stage_id)
            deals = await uow.pipelines.count_live_deals(pipeline_id, stage_id)
            if deals:
                raise StageHasDeals(f"{deals} live deal(s) stand in stage {stage.key!r}; move them first.")
            if not any(other.kind == stage.kind for other in current.stages if other.id != stage_id):
                raise LastStageOfKind(f"Stage {stage.key!r} is the pipeline's last {stage.kind} stage.")
            await uow.pipelines.remove_stage(stage_id)
            await self._record_stages_changed(uow, pipeline_id, caller)
            await uow.commit()

    async def restore_stage(
        self, pipeline_id: UUID, stage_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Stage:
        """Put a removed stage back, last in the order; a live stage stays as it is."""
        require_privileged(caller, CHANGE)
        async with self._uow(caller, idempotency) as uow:
            current = await self._live_for_update(uow, pipeline_id)
            live = current.stage(stage_id)
            if live is not None:
                return live
            removed = await uow.pipelines.removed_stage(pipeline_id, stage_id)
            if removed is None:
                raise StageNotFound(f"Pipeline {pipeline_id} has no stage {stage_id}.")
            if current.stage_keyed(removed.key) is not None:
                raise StageKeyConflict(f"Another live stage of pipeline {pipeline_id} is keyed {removed.key!r}.")
            stage = await uow.pipelines.restore_stage(stage_id)
            await self._record_stages_changed(uow, pipeline_id, caller)
            await uow.commit(stage)
        return stage

    async def reorder(self, pipeline_id: UUID, stage_ids: Sequence[UUID], caller: Caller) -> Pipeline:
        """``stage_ids`` must list every live stage of the pipeline once (422 otherwise)."""
        require_privileged(caller, CHANGE)
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, pipeline_id)
            _check_order(current, stage_ids)
            if [stage.id for stage in current.stages] == list(stage_ids):
                return current
            await uow.pipelines.reorder(pipeline_id, stage_ids)
            pipeline = await self._record_stages_changed(uow, pipeline_id, caller)
            await uow.commit()
        return pipeline

    async def _drop_default(self, uow: UnitOfWork, keep: UUID, caller: Caller) -> None:
        previous = await uow.pipelines.drop_default(keep, caller.actor_id)
        if previous is not None:
            uow.record(record_event("pipeline.updated", previous, self._clock.now()))

    async def _record_stages_changed(self, uow: UnitOfWork, pipeline_id: UUID, caller: Caller) -> Pipeline:
        pipeline = await uow.pipelines.touch(pipeline_id, caller.actor_id)
        uow.record(record_event("pipeline.updated", pipeline, self._clock.now()))
        return pipeline

    @staticmethod
    async def _live_for_update(uow: UnitOfWork, pipeline_id: UUID) -> Pipeline:
        pipeline = await uow.pipelines.get_for_update(pipeline_id)
        if pipeline is None or pipeline.is_deleted:
            raise PipelineNotFound(f"Pipeline {pipeline_id} does not exist.")
        return pipeline

    @staticmethod
    def _live_stage(pipeline: Pipeline, stage_id: UUID) -> Stage:
        stage = pipeline.stage(stage_id)
        if stage is None:
            raise StageNotFound(f"Pipeline {pipeline.id} has no stage {stage_id}.")
        return stage


def _check_order(pipeline: Pipeline, stage_ids: Sequence[UUID]) -> None:
    live = {stage.id for stage in pipeline.stages}
    problems: list[FieldProblem] = []
    seen: set[UUID] = set()
    for index, stage_id in enumerate(stage_ids):
        if stage_id not in live:
            problems.append(FieldProblem(str(index), "not a live stage of this pipeline"))
        elif stage_id in seen:
            problems.append(FieldProblem(str(index), "listed more than once"))
        seen.add(stage_id)
    missing = live - seen
    if missing:
        problems.append(FieldProblem("body", f"{len(missing)} stage(s) of the pipeline are missing from the order"))
    if problems:
        raise InvalidInput("The order must list every stage of the pipeline once.", errors=problems)
