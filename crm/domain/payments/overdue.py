"""Announcing overdue payments: a payment's status is derived on read, so nothing stored changes when
its planned date passes unpaid; crm-worker notices and records ``deal.payment.updated`` once.

The job looks at each payment once per planned date, the first run after that date has passed: storage
remembers the date it was checked for, so a payment is announced at most once per planned date, and looked at
again when its planned date moves. A payment that is not overdue when its day passes (paid, cancelled) has
nothing to announce then; any later change of its status comes from a write, which records its own event.

With a ``NotificationIntake``, each announced payment also notifies the policy's owner (else the deal's) once:
``payment.overdue``, in the same transaction as the event and the check.
"""

from __future__ import annotations

from dataclasses import replace

from crm.domain.caller import SYSTEM
from crm.domain.clock import Clock
from crm.domain.events import DomainEvent
from crm.domain.notifications.intake import NotificationIntake
from crm.domain.occasions.payments import PAYMENT_OVERDUE, payment_notification
from crm.domain.occasions.recipients import contacts_of, submit
from crm.domain.payments.rules import derive_status
from crm.domain.payments.schemas import Payment, PaymentStatus
from crm.domain.payments.service import payment_event
from crm.domain.uow import UnitOfWorkFactory

BATCH_SIZE = 500


def status_before_overdue(payment: Payment) -> PaymentStatus:
    """What the payment was on its planned date, the last day it was not overdue."""
    return derive_status(
        cancelled=payment.cancelled_at is not None,
        planned_amount=payment.planned_amount,
        incomes_total=payment.incomes_total,
        planned_date=payment.planned_date,
        today=payment.planned_date,
    )


def overdue_event(payment: Payment, clock: Clock) -> DomainEvent:
    """``deal.payment.updated`` as the payments service records it, plus the status it had before."""
    event = payment_event("deal.payment.updated", payment, clock)
    return replace(event, data={**event.data, "previous": {"status": status_before_overdue(payment).value}})


class OverduePayments:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        notifications: NotificationIntake,
        *,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._notifications = notifications
        self._batch_size = batch_size

    async def announce(self) -> int:
        """Records one event per payment that has become overdue since it was last announced; returns how many."""
        today = self._clock.today()
        announced = 0
        while True:
            async with self._uow(SYSTEM) as uow:
                past_due = await uow.payments.lock_unchecked_past_due(today, self._batch_size)
                overdue = [payment for payment in past_due if payment.status == PaymentStatus.OVERDUE]
                for payment in overdue:
                    uow.record(overdue_event(payment, self._clock))
                if overdue:
                    parties = await uow.occasions.parties({payment.policy_id for payment in overdue})
                    contacts = await contacts_of(uow, (parties[p.policy_id].responsible for p in overdue))
                    requests = [
                        payment_notification(PAYMENT_OVERDUE, p, parties[p.policy_id], contacts) for p in overdue
                    ]
                    await submit(self._notifications, uow, requests)
                await uow.payments.mark_overdue_checked([payment.id for payment in past_due])
                await uow.commit()
            announced += len(overdue)
            if len(past_due) < self._batch_size:
                break
        return announced
