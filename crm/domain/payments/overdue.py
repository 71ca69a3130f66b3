"""Announcing overdue payments: a payment's status is derived on read, so nothing stored changes when
its planned date passes unpaid; crm-worker notices and records ``deal.payment.updated`` once.

``overdue_announced_for`` remembers the planned date the announcement was for: a payment is announced
once per planned date, and again if its planned date moves and passes unpaid again.
"""

from __future__ import annotations

from dataclasses import replace

from crm.domain.caller import SYSTEM
from crm.domain.clock import Clock
from crm.domain.events import DomainEvent
from crm.domain.payments.rules import derive_status, with_status
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
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, *, batch_size: int = BATCH_SIZE) -> None:
        self._uow = uow
        self._clock = clock
        self._batch_size = batch_size

    async def announce(self) -> int:
        """Records one event per payment that has become overdue since it was last announced; returns how many."""
        today = self._clock.today()
        announced = 0
        while True:
            async with self._uow(SYSTEM) as uow:
                candidates = await uow.payments.lock_unannounced_overdue(today, self._batch_size)
                if not candidates:
                    break
                overdue = [p for p in (with_status(c, today) for c in candidates) if p.status == PaymentStatus.OVERDUE]
                for payment in overdue:
                    uow.record(overdue_event(payment, self._clock))
                await uow.payments.mark_overdue_announced([p.id for p in overdue])
                await uow.commit()
            announced += len(overdue)
            # The storage's pre-selection should match the rule; if a full batch did not, stop rather than spin.
            if len(candidates) < self._batch_size or not overdue:
                break
        return announced
