"""Firing automation rules: from the event stream and from time, each occasion once.

A rule fires on an occasion in one transaction: it locks the deal, checks the rule is still enabled and the
deal meets its conditions, records the run (unique per rule and occasion) and acts. Two workers, or one event
handled twice after a crash, meet at the run's unique key: the second waits for the first to commit, then finds
the run there and does nothing. An action the deal's rules refuse (a move not allowed) leaves nothing but the
run, marked ``failed`` with the reason.

A rule's action acts as the rule: the events it causes carry the chain of rules that led to them
(``Caller.cause``). A rule never fires on an occasion its own firing caused, nor past ``MAX_CASCADE`` firings
in a row: such a run is recorded ``loop_stopped`` and the chain ends there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from crm.domain.automation.repository import AutomationReader, EventFeed, FeedEvent, Occasion
from crm.domain.automation.rules import event_occasion, is_loop, passes_all
from crm.domain.automation.schemas import (
    AutomationRule,
    CreateTask,
    EventTrigger,
    MoveStage,
    Notify,
    RunStatus,
    SetDescription,
    SetNextReview,
    SetOwner,
    SetTitle,
)
from crm.domain.caller import Caller, Role
from crm.domain.clock import Clock
from crm.domain.deals.schemas import Deal
from crm.domain.deals.service import move_deal, stage_keyed
from crm.domain.deals.stages import place_of, record_deal_change
from crm.domain.errors import DomainError
from crm.domain.events import record_event
from crm.domain.notifications.intake import NotificationIntake
from crm.domain.occasions.recipients import audience, contacts_of, notification
from crm.domain.tasks.schemas import TaskCreate
from crm.domain.tasks.service import new_task_values
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import effective_changes

# The deduplication key of an automation notification: ``automation:<rule>:<occasion>``, once per firing.
AUTOMATION_OCCASION = "automation"
EVENT_BATCH = 200
OCCASION_BATCH = 200
ERROR_LENGTH = 500


def acting_as(rule_id: UUID, cause: tuple[UUID, ...]) -> Caller:
    """The caller a rule's action runs as: a manager (it sees every deal, cannot reopen a closed one) whose cause
    is the chain that led here, the rule last."""
    return Caller(roles=frozenset({Role.MANAGER}), cause=(*cause, rule_id))


def deal_of_event(event: FeedEvent) -> UUID | None:
    """The deal an event is about: its aggregate, or the ``deal_id`` its data names (a task's, a policy's)."""
    if event.aggregate_type == "deal":
        return event.aggregate_id
    named = event.data.get("deal_id")
    try:
        return UUID(str(named)) if named else None
    except ValueError:
        return None


@dataclass(slots=True)
class EventsRun:
    busy: bool = False
    read: int = 0
    fired: int = 0
    position: int = 0


@dataclass(slots=True)
class TimersRun:
    due: int = 0
    fired: int = 0


class AutomationEngine:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        reader: AutomationReader,
        feed: EventFeed,
        clock: Clock,
        notifications: NotificationIntake,
    ) -> None:
        self._uow = uow
        self._reader = reader
        self._feed = feed
        self._clock = clock
        self._notifications = notifications

    async def follow_events(self, *, budget: float, batch: int = EVENT_BATCH) -> EventsRun:
        """Fire the event rules on the events published since the last pass, batch by batch, for at most
        ``budget`` seconds; the feed's position moves after each batch. ``busy`` when another worker holds it."""
        run = EventsRun()
        deadline = time.monotonic() + budget
        async with self._feed.lease() as lease:
            if lease is None:
                run.busy = True
                return run
            run.position = lease.position
            rules = await self._reader.event_rules()
            while time.monotonic() < deadline:
                events = await lease.events(batch)
                if not events:
                    break
                for event in events:
                    run.fired += await self._on_event(rules, event)
                run.read += len(events)
                run.position = events[-1].position
                await lease.advance(run.position)
        return run

    async def fire_due(self, *, budget: float, batch: int = OCCASION_BATCH) -> TimersRun:
        """Fire the time rules on the occasions that have come, for at most ``budget`` seconds."""
        run = TimersRun()
        deadline = time.monotonic() + budget
        for rule in await self._reader.time_rules():
            while time.monotonic() < deadline:
                occasions = await self._reader.due_occasions(rule, self._clock.now(), batch)
                run.due += len(occasions)
                fired = [await self.fire(rule, occasion) for occasion in occasions]
                run.fired += sum(status is not None for status in fired)
                # A full batch where nothing fired (another worker took them) is not looked at again now.
                if len(occasions) < batch or not any(fired):
                    break
        return run

    async def _on_event(self, rules: list[AutomationRule], event: FeedEvent) -> int:
        deal_id = deal_of_event(event)
        fired = 0
        for rule in rules:
            trigger = rule.trigger
            assert isinstance(trigger, EventTrigger)
            if trigger.event_type != event.routing_key or deal_id is None:
                continue
            if rule.enabled_at is None or event.recorded_at < rule.enabled_at:
                continue
            if not passes_all(trigger.where, event.data):
                continue
            occasion = Occasion(event_occasion(event.event_id), deal_id, event.event_id, event.cause)
            fired += await self.fire(rule, occasion) is not None
        return fired

    async def fire(self, rule: AutomationRule, occasion: Occasion) -> RunStatus | None:
        """Fire ``rule`` on ``occasion`` once: the run's status, or None when nothing was recorded (fired before,
        the rule disabled, the deal gone or not meeting the conditions)."""
        caller = acting_as(rule.id, occasion.cause)
        try:
            async with self._uow(caller) as uow:
                live = await uow.automation.lock_enabled(rule.id)
                deal = await self._deal(uow, occasion.deal_id)
                if live is None or deal is None or not await uow.automation.deal_meets(deal.id, live.conditions):
                    return None
                now = self._clock.now()
                if is_loop(live.id, occasion.cause):
                    status = RunStatus.LOOP_STOPPED
                    detail: dict[str, Any] = {"cause": [str(rule_id) for rule_id in occasion.cause]}
                    if not await uow.automation.add_run(live.id, occasion, status, detail, None, now):
                        return None
                else:
                    if not await uow.automation.add_run(live.id, occasion, RunStatus.DONE, {}, None, now):
                        return None
                    status, detail = await self._act(uow, live, deal, occasion, caller)
                    await uow.automation.set_run(live.id, occasion.key, status, detail)
                await uow.commit()
            return status
        except DomainError as refused:
            return await self._refused(rule, occasion, caller, refused)

    async def _refused(
        self, rule: AutomationRule, occasion: Occasion, caller: Caller, error: DomainError
    ) -> RunStatus | None:
        """The action was refused and rolled back: the run is recorded ``failed``, with the reason."""
        reason = f"{error.code}: {error.detail}"[:ERROR_LENGTH]
        async with self._uow(caller) as uow:
            if not await uow.automation.add_run(rule.id, occasion, RunStatus.FAILED, {}, reason, self._clock.now()):
                return None
            await uow.commit()
        return RunStatus.FAILED

    @staticmethod
    async def _deal(uow: UnitOfWork, deal_id: UUID | None) -> Deal | None:
        if deal_id is None:
            return None
        deal = await uow.deals.get_for_update(deal_id)
        return None if deal is None or deal.is_deleted else deal

    async def _act(
        self, uow: UnitOfWork, rule: AutomationRule, deal: Deal, occasion: Occasion, caller: Caller
    ) -> tuple[RunStatus, dict[str, Any]]:
        now = self._clock.now()
        action = rule.action
        if isinstance(action, MoveStage):
            pipeline, _ = await place_of(uow, deal)
            target = stage_keyed(pipeline, action.stage)
            moved = await move_deal(uow, deal, pipeline, target, action.lost_reason, caller, now)
            if moved is None:
                return RunStatus.SKIPPED, {"stage": deal.stage, "reason": "the deal is there already"}
            return RunStatus.DONE, {"from_stage": deal.stage, "to_stage": moved.stage}
        if isinstance(action, CreateTask):
            due = None if action.due_in_hours is None else now + timedelta(hours=action.due_in_hours)
            data = TaskCreate(
                title=action.title,
                description=action.description,
                priority=action.priority,
                assignee_id=deal.owner_id,
                deal_id=deal.id,
                due_at=due,
            )
            task = await uow.tasks.add(uuid4(), new_task_values(data, caller), caller.actor_id)
            uow.record(record_event("task.created", task, now))
            return RunStatus.DONE, {
                "task_id": str(task.id),
                "assignee_id": str(deal.owner_id) if deal.owner_id else None,
            }
        if isinstance(action, Notify):
            contacts = await contacts_of(uow, [deal.owner_id])
            payload = {
                "rule_id": str(rule.id),
                "rule": rule.name,
                "deal_id": str(deal.id),
                "deal": deal.title,
                "occasion": occasion.key,
                **({"message": action.message} if action.message else {}),
            }
            to = audience(deal.owner_id, contacts.get(deal.owner_id) if deal.owner_id else None)
            request = notification(AUTOMATION_OCCASION, to, payload, rule.id, occasion.key)
            request = request.model_copy(update={"event_key": action.event_key})
            notification_id = await self._notifications.submit_in(uow, request, caller)
            return RunStatus.DONE, {"notification_id": str(notification_id) if notification_id else None}
        assert isinstance(action, SetTitle | SetDescription | SetNextReview | SetOwner)
        changes = effective_changes(deal, {action.field: action.value})
        if not changes:
            return RunStatus.SKIPPED, {"field": action.field, "reason": "the field has that value already"}
        changed = await uow.deals.update(deal.id, changes, caller.actor_id)
        await record_deal_change(uow, deal, changed, caller, now)
        return RunStatus.DONE, {"field": action.field, "value": changed.model_dump(mode="json")[action.field]}
