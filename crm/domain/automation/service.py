"""Automation rules' use cases: keeping the rules (admins and managers) and reading what they did."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from crm.domain.access import require_privileged
from crm.domain.automation.repository import AutomationReader
from crm.domain.automation.schemas import (
    AutomationRule,
    AutomationRun,
    DealInStageTrigger,
    MoveStage,
    RuleCreate,
    RuleFilter,
    RuleUpdate,
    RunFilter,
)
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import AutomationRuleNotFound, FieldProblem, InvalidInput
from crm.domain.events import record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page
from crm.domain.pipelines.repository import PipelineReader
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, requested_changes

READ = "read automation rules"
CHANGE = "change automation rules"


def enabled_at(enabled: bool, was: AutomationRule | None, now: datetime) -> datetime | None:
    """When a rule counts as enabled from: now when it becomes enabled, kept while it stays so, none when off."""
    if not enabled:
        return None
    if was is not None and was.enabled:
        return was.enabled_at
    return now


class AutomationRuleService:
    def __init__(self, uow: UnitOfWorkFactory, reader: AutomationReader, pipelines: PipelineReader, clock: Clock):
        self._uow = uow
        self._reader = reader
        self._pipelines = pipelines
        self._clock = clock

    async def get(self, rule_id: UUID, caller: Caller) -> AutomationRule:
        require_privileged(caller, READ)
        rule = await self._reader.get(rule_id)
        if rule is None:
            raise AutomationRuleNotFound(f"Automation rule {rule_id} does not exist.")
        return rule

    async def list(self, query: RuleFilter, caller: Caller) -> Page[AutomationRule]:
        require_privileged(caller, READ)
        return await self._reader.page(query)

    async def runs(self, rule_id: UUID, query: RunFilter, caller: Caller) -> Page[AutomationRun]:
        """The rule's runs, newest first."""
        await self.get(rule_id, caller)
        return await self._reader.runs(rule_id, query)

    async def create(
        self, data: RuleCreate, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> AutomationRule:
        require_privileged(caller, CHANGE)
        values: dict[str, Any] = data.model_dump(mode="json")
        async with self._uow(caller, idempotency) as uow:
            await self._check_references(uow, data.trigger, data.conditions.pipeline_id, data.action)
            now = self._clock.now()
            values["enabled_at"] = enabled_at(data.enabled, None, now)
            rule = await uow.automation.add(uuid4(), values, caller.actor_id)
            uow.record(record_event("automation.rule.created", rule, now))
            await uow.commit(rule)
        return rule

    async def update(
        self, rule_id: UUID, patch: RuleUpdate, caller: Caller, *, if_match: int | None = None
    ) -> AutomationRule:
        """A rule disabled here fires no more from the moment this commits (a firing under way finishes first)."""
        require_privileged(caller, CHANGE)
        named = set(requested_changes(patch, RuleUpdate.NOT_NULLABLE))
        async with self._uow(caller) as uow:
            current = await uow.automation.get_for_update(rule_id)
            if current is None or current.is_deleted:
                raise AutomationRuleNotFound(f"Automation rule {rule_id} does not exist.")
            check_version(current.version, if_match)
            wanted = patch.model_dump(mode="json", include=named)
            served = current.model_dump(mode="json")
            changes = {name: value for name, value in wanted.items() if served[name] != value}
            if not changes:
                return current
            merged = current.model_copy(update={name: getattr(patch, name) for name in changes})
            await self._check_references(uow, merged.trigger, merged.conditions.pipeline_id, merged.action)
            now = self._clock.now()
            since = enabled_at(merged.enabled, current, now)
            if since != current.enabled_at:
                changes["enabled_at"] = since
            rule = await uow.automation.update(rule_id, changes, caller.actor_id)
            uow.record(record_event("automation.rule.updated", rule, now))
            await uow.commit()
        return rule

    async def _check_references(
        self, uow: UnitOfWork, trigger: object, pipeline_id: UUID | None, action: object
    ) -> None:
        """The stages and the pipeline a rule names exist (a stage key in the pipeline it is bound to)."""
        problems: list[FieldProblem] = []
        if isinstance(trigger, DealInStageTrigger) and await uow.pipelines.stage_of_any(trigger.stage_id) is None:
            problems.append(FieldProblem("trigger.stage_id", "no such stage"))
        pipeline = None
        if pipeline_id is not None:
            pipeline = await self._pipelines.get(pipeline_id)
            if pipeline is None:
                problems.append(FieldProblem("conditions.pipeline_id", "no such pipeline"))
        if isinstance(action, MoveStage):
            if pipeline is not None and pipeline.stage_keyed(action.stage) is None:
                problems.append(FieldProblem("action.stage", "not a stage of the pipeline in conditions.pipeline_id"))
            elif pipeline is None and not await self._pipelines.stage_keys([action.stage], None):
                problems.append(FieldProblem("action.stage", "no pipeline has a stage with this key"))
        if problems:
            raise InvalidInput("The rule names what does not exist.", errors=problems)
