"""Task use cases: create, change, schedule, complete, and remind."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from uuid import UUID, uuid4

from crm.domain.access import Access
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import (
    CancelledReasonRequired,
    ClientNotFound,
    DealNotFound,
    FieldProblem,
    InvalidTaskStatusTransition,
    PaymentNotFound,
    PolicyNotFound,
    RuleViolation,
    ScheduledForRequired,
    TaskClosed,
    TaskNotFound,
)
from crm.domain.events import DomainEvent, record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page
from crm.domain.tasks.repository import TaskReader
from crm.domain.tasks.rules import FINAL_STATUSES, TaskStatus, initial_status, transition_refusal
from crm.domain.tasks.schemas import (
    LINK_FIELDS,
    Task,
    TaskCreate,
    TaskFilter,
    TaskReminder,
    TaskReminderCreate,
    TaskUpdate,
)
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes


def status_changed_event(old: TaskStatus, task: Task, actor_id: UUID | None, occurred_at: datetime) -> DomainEvent:
    """``task.status.changed``, whoever moved the task (``actor_id`` None: crm-worker, on its own)."""
    # The contract's fields, plus the task itself so consumers (notifications) need not call back.
    return DomainEvent(
        routing_key="task.status.changed",
        aggregate_id=task.id,
        data={
            "task_id": str(task.id),
            "old_status": old.value,
            "new_status": task.status.value,
            "actor_id": str(actor_id) if actor_id else None,
            "task": task.model_dump(mode="json"),
        },
        occurred_at=occurred_at,
    )


def new_task_values(data: TaskCreate, caller: Caller) -> dict[str, Any]:
    """The columns of a new task: a task with ``scheduled_for`` starts ``scheduled``, others ``pending``; the
    caller is its author."""
    return {
        **data.model_dump(),
        "status": initial_status(data.scheduled_for is not None),
        "author_id": caller.actor_id,
    }


class TaskService:
    def __init__(self, uow: UnitOfWorkFactory, reader: TaskReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def get(self, task_id: UUID, caller: Caller) -> Task:
        task = await self._reader.get(task_id, Access.of(caller))
        if task is None:
            raise TaskNotFound(f"Task {task_id} does not exist.")
        return task

    async def list(self, query: TaskFilter, caller: Caller) -> Page[Task]:
        """A plain day as a due bound means its midnight in the business time zone."""
        bounds = {"due_before": self._instant(query.due_before), "due_after": self._instant(query.due_after)}
        return await self._reader.page(query.model_copy(update=bounds), Access.of(caller))

    def _instant(self, bound: datetime | date | None) -> datetime | None:
        if bound is None or isinstance(bound, datetime):
            return bound
        return datetime.combine(bound, time(), tzinfo=self._clock.zone)

    async def create(self, data: TaskCreate, caller: Caller, idempotency: IdempotentRequest | None = None) -> Task:
        """The caller is the author; a task with ``scheduled_for`` starts ``scheduled``, others ``pending``."""
        if data.scheduled_for is not None:
            self._require_future("scheduled_for", data.scheduled_for)
        values = new_task_values(data, caller)
        async with self._uow(caller, idempotency) as uow:
            await self._check_links(uow, {name: values[name] for name in LINK_FIELDS})
            await self._check_assignment(uow, caller, values["deal_id"], values["assignee_id"])
            task = await uow.tasks.add(uuid4(), values, caller.actor_id)
            uow.record(record_event("task.created", task, self._clock.now()))
            await uow.commit(task)
        return task

    async def update(self, task_id: UUID, patch: TaskUpdate, caller: Caller, *, if_match: int | None = None) -> Task:
        """Changes fields and, through ``status``, the lifecycle. Only status changes are events: the
        contract has no ``task.updated``."""
        return await self._change(task_id, requested_changes(patch, TaskUpdate.NOT_NULLABLE), caller, if_match, None)

    async def schedule(
        self,
        task_id: UUID,
        scheduled_for: datetime,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
        *,
        if_match: int | None = None,
    ) -> Task:
        """A pending task becomes ``scheduled``; a scheduled one moves to the new time."""
        self._require_future("scheduled_for", scheduled_for)
        changes = {"status": TaskStatus.SCHEDULED, "scheduled_for": scheduled_for}
        return await self._change(task_id, changes, caller, if_match, idempotency)

    async def complete(
        self,
        task_id: UUID,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
        *,
        if_match: int | None = None,
    ) -> Task:
        """Completing a completed task changes nothing."""
        return await self._change(task_id, {"status": TaskStatus.COMPLETED}, caller, if_match, idempotency)

    async def add_reminder(
        self, task_id: UUID, data: TaskReminderCreate, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> TaskReminder:
        """Reminders fire later, from the worker; a closed task gets none."""
        self._require_future("remind_at", data.remind_at)
        async with self._uow(caller, idempotency) as uow:
            task = await uow.tasks.get_for_share(task_id)
            if task is None:
                raise TaskNotFound(f"Task {task_id} does not exist.")
            if task.status in FINAL_STATUSES:
                raise TaskClosed(
                    f"Task {task_id} is {task.status}; it takes no more reminders.",
                    errors=[FieldProblem("status", f"task is {task.status}")],
                )
            reminder = await uow.tasks.add_reminder(uuid4(), task_id, data.remind_at, data.channel)
            await uow.commit(reminder)
        return reminder

    async def _change(
        self,
        task_id: UUID,
        requested: dict[str, Any],
        caller: Caller,
        if_match: int | None,
        idempotency: IdempotentRequest | None,
    ) -> Task:
        async with self._uow(caller, idempotency) as uow:
            current = await uow.tasks.get_live_for_update(task_id)
            if current is None:
                raise TaskNotFound(f"Task {task_id} does not exist.")
            check_version(current.version, if_match)
            changes = effective_changes(current, requested)
            if not changes:
                return current
            changes = self._lifecycle(current, changes)
            await self._check_links(uow, {name: changes[name] for name in LINK_FIELDS if name in changes})
            if "assignee_id" in changes or "deal_id" in changes:
                after = current.model_copy(update=changes)
                await self._check_assignment(uow, caller, after.deal_id, after.assignee_id)
            task = await uow.tasks.update(task_id, changes, caller.actor_id)
            if task.status != current.status:
                uow.record(status_changed_event(current.status, task, caller.actor_id, self._clock.now()))
            await uow.commit(task)
        return task

    def _lifecycle(self, current: Task, changes: dict[str, Any]) -> dict[str, Any]:
        """Checks the status move and keeps its companions in step: ``scheduled_for`` is set exactly
        while the task is scheduled, ``cancelled_reason`` only on a cancelled task, ``completed_at``
        when it is completed."""
        target: TaskStatus = changes.get("status", current.status)
        if target != current.status:
            refusal = transition_refusal(current.status, target)
            if refusal is not None:
                raise InvalidTaskStatusTransition(
                    f"Cannot move task from {current.status} to {target}: {refusal}.",
                    errors=[FieldProblem("status", refusal)],
                )
        changes = dict(changes)
        if target == TaskStatus.SCHEDULED:
            if changes.get("scheduled_for", current.scheduled_for) is None:
                raise ScheduledForRequired(
                    "A scheduled task needs scheduled_for.",
                    errors=[FieldProblem("scheduled_for", "required while the task is scheduled")],
                )
            if "scheduled_for" in changes:
                self._require_future("scheduled_for", changes["scheduled_for"])
        elif changes.get("scheduled_for") is not None:
            raise RuleViolation(
                "Only a scheduled task has scheduled_for; use POST /tasks/{id}/schedule.",
                errors=[FieldProblem("scheduled_for", f"a {target} task has no scheduled_for")],
            )
        elif current.scheduled_for is not None:
            changes["scheduled_for"] = None
        if target == TaskStatus.CANCELLED:
            if changes.get("cancelled_reason", current.cancelled_reason) is None:
                raise CancelledReasonRequired(
                    "Cancelling a task needs a cancelled_reason.",
                    errors=[FieldProblem("cancelled_reason", "required when the task is cancelled")],
                )
        elif changes.get("cancelled_reason") is not None:
            raise RuleViolation(
                "Only a cancelled task has a cancelled_reason.",
                errors=[FieldProblem("cancelled_reason", f"a {target} task has no cancelled_reason")],
            )
        if target == TaskStatus.COMPLETED and current.status != TaskStatus.COMPLETED:
            changes["completed_at"] = self._clock.now()
        return changes

    async def _check_links(self, uow: UnitOfWork, links: dict[str, UUID | None]) -> None:
        """Each linked record must be live; the locks keep it so until the task is written."""
        if (deal_id := links.get("deal_id")) and not await uow.deals.lock_live_for_share(deal_id):
            raise DealNotFound(f"Deal {deal_id} does not exist.", errors=[FieldProblem("deal_id", "no such deal")])
        if (client_id := links.get("client_id")) and not await uow.clients.lock_live_for_share(client_id):
            raise ClientNotFound(
                f"Client {client_id} does not exist.", errors=[FieldProblem("client_id", "no such client")]
            )
        if (policy_id := links.get("policy_id")) and not await uow.policies.lock_live_for_share(policy_id):
            raise PolicyNotFound(
                f"Policy {policy_id} does not exist.", errors=[FieldProblem("policy_id", "no such policy")]
            )
        if (payment_id := links.get("payment_id")) and not await uow.tasks.lock_live_payment(payment_id):
            raise PaymentNotFound(
                f"Payment {payment_id} does not exist.", errors=[FieldProblem("payment_id", "no such payment")]
            )

    @staticmethod
    async def _check_assignment(
        uow: UnitOfWork, caller: Caller, deal_id: UUID | None, assignee_id: UUID | None
    ) -> None:
        """A task of a deal lets its assignee see the deal, so only who may change the deal hands one to
        someone else; anyone who sees it may take one for themselves."""
        if deal_id is not None and assignee_id is not None and assignee_id != caller.actor_id:
            await uow.deals.reach(deal_id, change=True)

    def _require_future(self, field: str, moment: datetime) -> None:
        if moment <= self._clock.now():
            raise RuleViolation(
                f"{field} must be in the future.", errors=[FieldProblem(field, "must be in the future")]
            )
