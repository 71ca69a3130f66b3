"""Payments that reach people: an instalment falling due (``payment.due``) and one gone overdue
(``payment.overdue``, fired by ``crm.domain.payments.overdue``).

``payment.due`` fires once per payment and planned date, the first run that finds the payment unpaid within
``notice_days`` of its planned date: the mark (``OccasionRepository.mark_due_noticed``) commits with the
notification.
A payment whose planned date moves is due again on its new date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from crm.domain.caller import SYSTEM
from crm.domain.clock import Clock
from crm.domain.notifications.intake import NotificationIntake
from crm.domain.notifications.schemas import NotificationRequest
from crm.domain.occasions.recipients import audience, contacts_of, notification, submit
from crm.domain.occasions.repository import PolicyParties
from crm.domain.payments.schemas import Payment, PaymentStatus
from crm.domain.uow import UnitOfWorkFactory
from crm.domain.users.schemas import UserContacts

BATCH_SIZE = 500
PAYMENT_DUE = "payment.due"
PAYMENT_OVERDUE = "payment.overdue"
# Money is still owed and the day has not passed: what a payment due soon is.
DUE_STATUSES = frozenset({PaymentStatus.SCHEDULED, PaymentStatus.PARTIALLY_PAID})


def payment_payload(payment: Payment, parties: PolicyParties) -> dict[str, Any]:
    return {
        "payment_id": str(payment.id),
        "policy_id": str(payment.policy_id),
        "deal_id": str(payment.deal_id),
        "policy_number": parties.policy_number,
        "sequence": payment.sequence,
        "planned_date": payment.planned_date.isoformat(),
        "planned_amount": format(payment.planned_amount, ".2f"),
        "currency": payment.currency,
    }


def payment_notification(
    event_key: str, payment: Payment, parties: PolicyParties, contacts: Mapping[Any, UserContacts]
) -> NotificationRequest:
    """``payment.due`` or ``payment.overdue`` for the policy's owner (else the deal's) on their preferred channel."""
    owner = parties.responsible
    return notification(
        event_key,
        audience(owner, contacts.get(owner)),
        payment_payload(payment, parties),
        payment.id,
        payment.planned_date.isoformat(),
    )


@dataclass(frozen=True, slots=True)
class DueRun:
    noticed: int  # payments whose payment.due fired in this run
    notified: int  # notifications the intake took (a refused duplicate is not counted)


class PaymentDueNotices:
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

    async def notify_due(self) -> DueRun:
        """Each payment planned within ``notice_days`` of today (business day) and still unpaid: one
        ``payment.due`` notification, committed with its claim."""
        today = self._clock.today()
        last = today + timedelta(days=self._notice_days)
        noticed = notified = 0
        while True:
            async with self._uow(SYSTEM) as uow:
                due = await uow.occasions.lock_payments_due(today, last, self._batch_size)
                if not due:
                    break
                # Every payment looked at is marked, so none is looked at again for this planned date.
                await uow.occasions.mark_due_noticed([payment.id for payment in due])
                fired = [payment for payment in due if payment.status in DUE_STATUSES]
                parties = await uow.occasions.parties({p.policy_id for p in fired})
                contacts = await contacts_of(uow, (parties[p.policy_id].responsible for p in fired))
                requests = [payment_notification(PAYMENT_DUE, p, parties[p.policy_id], contacts) for p in fired]
                notified += await submit(self._notifications, uow, requests)
                await uow.commit()
            noticed += len(fired)
            if len(due) < self._batch_size:
                break
        return DueRun(noticed=noticed, notified=notified)
