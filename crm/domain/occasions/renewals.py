"""Policies nearing their end, and policies that ended unrenewed.

A live ``active`` policy whose last day (``effective_to``) is within ``notice_days`` becomes ``pending_renewal``
(``policy.updated``), gets one renewal task (assigned to its owner, linked to the policy, its deal and client,
due at the start of its last day) and its owner (else the deal's) is notified: ``policy.renewal``. All of it
commits with the policy marked as noticed for its ``effective_to``, so it happens once per end date however
many workers run; an active policy whose end date moved is renewed again for its new date.

After its last day an unrenewed policy (``active`` or ``pending_renewal``) becomes ``expired``.
The status rules are ``crm.domain.policies.rules``'; the queries only narrow what they look at.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from uuid import UUID, uuid4

from crm.domain.caller import SYSTEM
from crm.domain.clock import Clock
from crm.domain.events import record_event
from crm.domain.notifications.intake import NotificationIntake
from crm.domain.notifications.schemas import NotificationRequest
from crm.domain.occasions.recipients import audience, contacts_of, notification, submit
from crm.domain.occasions.repository import PolicyParties
from crm.domain.policies.rules import (
    RENEWABLE_STATUSES,
    UNRENEWED_STATUSES,
    has_expired,
    renewal_is_due,
    renewal_window,
)
from crm.domain.policies.schemas import Policy, PolicyStatus
from crm.domain.tasks.rules import TaskPriority, TaskStatus
from crm.domain.tasks.schemas import Task
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.users.schemas import UserContacts

BATCH_SIZE = 200
POLICY_RENEWAL = "policy.renewal"


def renewal_payload(policy: Policy, renewal_task_id: UUID) -> dict[str, Any]:
    assert policy.effective_to is not None
    return {
        "policy_id": str(policy.id),
        "policy_number": policy.policy_number,
        "effective_to": policy.effective_to.isoformat(),
        "client_id": str(policy.client_id),
        "deal_id": str(policy.deal_id),
        "renewal_task_id": str(renewal_task_id),
    }


def renewal_notification(
    policy: Policy, parties: PolicyParties, renewal_task_id: UUID, contacts: Mapping[UUID, UserContacts]
) -> NotificationRequest:
    owner = parties.responsible
    assert policy.effective_to is not None
    return notification(
        POLICY_RENEWAL,
        audience(owner, contacts.get(owner) if owner else None),
        renewal_payload(policy, renewal_task_id),
        policy.id,
        policy.effective_to.isoformat(),
    )


@dataclass(frozen=True, slots=True)
class RenewalsRun:
    renewing: int  # policies moved to pending_renewal, each with its renewal task
    expired: int
    notified: int


class PolicyRenewals:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        notifications: NotificationIntake,
        *,
        notice_days: int,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._notifications = notifications
        self._notice_days = notice_days
        self._batch_size = batch_size

    async def run(self) -> RenewalsRun:
        expired = await self.expire_ended()
        renewing, notified = await self.renew_ending()
        return RenewalsRun(renewing=renewing, expired=expired, notified=notified)

    async def renew_ending(self) -> tuple[int, int]:
        """Policies ending within the notice period: pending_renewal, a renewal task, the owner told. How many
        policies, and how many notifications the intake took."""
        today = self._clock.today()
        first, last = renewal_window(today, self._notice_days)
        renewing = notified = 0
        while True:
            async with self._uow(SYSTEM) as uow:
                ending = await uow.occasions.lock_policies_to_renew(RENEWABLE_STATUSES, first, last, self._batch_size)
                if not ending:
                    break
                await uow.occasions.mark_renewal_noticed([policy.id for policy in ending])
                due = [
                    policy
                    for policy in ending
                    if renewal_is_due(policy.status, policy.effective_to, today, self._notice_days)
                ]
                parties = await uow.occasions.parties({policy.id for policy in due})
                tasks = {}
                for policy in due:
                    await self._set_status(uow, policy, PolicyStatus.PENDING_RENEWAL)
                    tasks[policy.id] = await self._renewal_task(uow, policy, parties[policy.id])
                if due:
                    contacts = await contacts_of(uow, (parties[policy.id].responsible for policy in due))
                    requests = [
                        renewal_notification(policy, parties[policy.id], tasks[policy.id].id, contacts)
                        for policy in due
                    ]
                    notified += await submit(self._notifications, uow, requests)
                await uow.commit()
            renewing += len(due)
            if len(ending) < self._batch_size:
                break
        return renewing, notified

    async def expire_ended(self) -> int:
        """Unrenewed policies past their last day become ``expired``; how many."""
        today = self._clock.today()
        expired = 0
        while True:
            async with self._uow(SYSTEM) as uow:
                ended = await uow.occasions.lock_policies_ended(UNRENEWED_STATUSES, today, self._batch_size)
                if not ended:
                    break
                moved = [policy for policy in ended if has_expired(policy.status, policy.effective_to, today)]
                for policy in moved:
                    await self._set_status(uow, policy, PolicyStatus.EXPIRED)
                await uow.commit()
            expired += len(moved)
            # Rows the rule refuses would come back unchanged: stop rather than spin.
            if len(ended) < self._batch_size or not moved:
                break
        return expired

    async def _set_status(self, uow: UnitOfWork, policy: Policy, status: PolicyStatus) -> None:
        """As a PATCH of the status would: version bump and ``policy.updated``, by nobody (crm-worker)."""
        updated = await uow.policies.update(policy.id, {"status": status}, SYSTEM.actor_id)
        uow.record(record_event("policy.updated", updated, self._clock.now()))

    async def _renewal_task(self, uow: UnitOfWork, policy: Policy, parties: PolicyParties) -> Task:
        assert policy.effective_to is not None
        values = {
            "title": f"Renew policy {policy.policy_number}",
            "status": TaskStatus.PENDING,
            "priority": TaskPriority.HIGH,
            "assignee_id": parties.responsible,
            "author_id": None,
            "due_at": datetime.combine(policy.effective_to, time(), tzinfo=self._clock.zone),
            "deal_id": policy.deal_id,
            "client_id": policy.client_id,
            "policy_id": policy.id,
            "context": {},
            "payload": {"occasion": POLICY_RENEWAL, "effective_to": policy.effective_to.isoformat()},
        }
        task = await uow.tasks.add(uuid4(), values, SYSTEM.actor_id)
        uow.record(record_event("task.created", task, self._clock.now()))
        return task
