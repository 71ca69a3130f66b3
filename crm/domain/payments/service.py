"""Payment use cases: instalments of a policy, with an explicit cancel and an admin's reopen."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import PaymentHasTransactions, PaymentNotFound, PaymentReopenForbidden, PolicyNotFound
from crm.domain.events import DomainEvent
from crm.domain.pagination import Page
from crm.domain.payments.repository import PaymentReader
from crm.domain.payments.rules import check_actual_date, with_status
from crm.domain.payments.schemas import Payment, PaymentCreate, PaymentFilter, PaymentUpdate
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes

EMBEDDED = frozenset({"incomes", "expenses"})


def snapshot(payment: Payment) -> dict[str, Any]:
    """The payment as history and events keep it: with totals and status, without embedded lines."""
    return payment.model_dump(mode="json", exclude=set(EMBEDDED))


def payment_event(routing_key: str, payment: Payment, clock: Clock) -> DomainEvent:
    return DomainEvent(
        routing_key=routing_key,
        aggregate_type="deal",
        aggregate_id=payment.deal_id,
        data={"deal_id": str(payment.deal_id), "policy_id": str(payment.policy_id), "payment": snapshot(payment)},
        occurred_at=clock.now(),
    )


def policy_not_found(policy_id: UUID) -> PolicyNotFound:
    return PolicyNotFound(f"Policy {policy_id} does not exist in this deal.")


def payment_not_found(payment_id: UUID) -> PaymentNotFound:
    return PaymentNotFound(f"Payment {payment_id} does not exist in this policy.")


async def live_payment_for_update(
    uow: UnitOfWork, deal_id: UUID, policy_id: UUID, payment_id: UUID, *, lock_policy_exclusive: bool = False
) -> Payment:
    """Locks the policy, then the payment (always in that order, so writers cannot deadlock)."""
    if await uow.payments.lock_policy(deal_id, policy_id, exclusive=lock_policy_exclusive) is None:
        raise policy_not_found(policy_id)
    payment = await uow.payments.get_for_update(payment_id, policy_id)
    if payment is None or payment.is_deleted:
        raise payment_not_found(payment_id)
    return payment


class PaymentService:
    def __init__(self, uow: UnitOfWorkFactory, reader: PaymentReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def _check_policy(self, deal_id: UUID, policy_id: UUID) -> None:
        if not await self._reader.policy_is_live(deal_id, policy_id):
            raise policy_not_found(policy_id)

    async def get(self, deal_id: UUID, policy_id: UUID, payment_id: UUID) -> Payment:
        await self._check_policy(deal_id, policy_id)
        payment = await self._reader.get(payment_id, policy_id)
        if payment is None:
            raise payment_not_found(payment_id)
        return with_status(payment, self._clock.today())

    async def list(self, query: PaymentFilter) -> Page[Payment]:
        await self._check_policy(query.deal_id, query.policy_id)
        page = await self._reader.page(query)
        today = self._clock.today()
        page.items = [with_status(p, today) for p in page.items]
        return page

    async def create(self, deal_id: UUID, policy_id: UUID, data: PaymentCreate, caller: Caller) -> Payment:
        today = self._clock.today()
        check_actual_date(data.actual_date, data.planned_date, today)
        async with self._uow(caller) as uow:
            # The exclusive lock on the policy serialises sequence allocation.
            policy_currency = await uow.payments.lock_policy(deal_id, policy_id, exclusive=True)
            if policy_currency is None:
                raise policy_not_found(policy_id)
            values = data.model_dump()
            values["currency"] = data.currency or policy_currency
            payment = with_status(await uow.payments.add(uuid4(), policy_id, values, caller.actor_id), today)
            await self._history(uow, payment, "created", None, caller)
            uow.record(payment_event("deal.payment.created", payment, self._clock))
            await uow.commit()
        return payment

    async def update(
        self,
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        patch: PaymentUpdate,
        caller: Caller,
        *,
        if_match: int | None = None,
    ) -> Payment:
        changes = requested_changes(patch, PaymentUpdate.NOT_NULLABLE)
        today = self._clock.today()
        async with self._uow(caller) as uow:
            current = with_status(await live_payment_for_update(uow, deal_id, policy_id, payment_id), today)
            check_version(current.version, if_match)
            changes = effective_changes(current, changes)
            if not changes:
                return current
            if "currency" in changes and await uow.payments.has_live_lines(payment_id):
                raise PaymentHasTransactions(
                    f"Payment {payment_id} has incomes or expenses in {current.currency}; delete them first."
                )
            if "actual_date" in changes or "planned_date" in changes:
                check_actual_date(
                    changes.get("actual_date", current.actual_date),
                    changes.get("planned_date", current.planned_date),
                    today,
                )
            return await self._save(uow, current, changes, caller)

    async def cancel(self, deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: Caller) -> Payment:
        """Cancelling a cancelled payment changes nothing."""
        async with self._uow(caller) as uow:
            current = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
            current = with_status(current, self._clock.today())
            if current.cancelled_at is not None:
                return current
            return await self._save(uow, current, {"cancelled_at": self._clock.now()}, caller)

    async def reopen(self, deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: Caller) -> Payment:
        """Undo a cancel (admins only); reopening a payment that is not cancelled changes nothing."""
        if not caller.is_admin:
            raise PaymentReopenForbidden("Only an admin may reopen a cancelled payment.")
        async with self._uow(caller) as uow:
            current = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
            current = with_status(current, self._clock.today())
            if current.cancelled_at is None:
                return current
            return await self._save(uow, current, {"cancelled_at": None}, caller)

    async def delete(
        self, deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: Caller, *, if_match: int | None = None
    ) -> None:
        today = self._clock.today()
        async with self._uow(caller) as uow:
            current = with_status(await live_payment_for_update(uow, deal_id, policy_id, payment_id), today)
            check_version(current.version, if_match)
            if await uow.payments.has_live_lines(payment_id):
                raise PaymentHasTransactions(
                    f"Payment {payment_id} has incomes or expenses; delete them before the payment."
                )
            payment = with_status(await uow.payments.set_deleted(payment_id, True, caller.actor_id), today)
            await self._history(uow, payment, "deleted", current, caller)
            uow.record(payment_event("deal.payment.deleted", payment, self._clock))
            await uow.commit()

    async def restore(self, deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: Caller) -> Payment:
        """Undo a soft delete; restoring a live payment changes nothing. Its sequence is kept."""
        today = self._clock.today()
        async with self._uow(caller) as uow:
            if await uow.payments.lock_policy(deal_id, policy_id, exclusive=False) is None:
                raise policy_not_found(policy_id)
            current = await uow.payments.get_for_update(payment_id, policy_id)
            if current is None:
                raise payment_not_found(payment_id)
            current = with_status(current, today)
            if not current.is_deleted:
                return current
            payment = with_status(await uow.payments.set_deleted(payment_id, False, caller.actor_id), today)
            await self._history(uow, payment, "restored", current, caller)
            uow.record(payment_event("deal.payment.restored", payment, self._clock))
            await uow.commit()
        return payment

    async def _save(self, uow: UnitOfWork, current: Payment, changes: dict[str, Any], caller: Caller) -> Payment:
        payment = await uow.payments.update(current.id, changes, caller.actor_id)
        payment = with_status(payment, self._clock.today())
        await self._history(uow, payment, "updated", current, caller)
        uow.record(payment_event("deal.payment.updated", payment, self._clock))
        await uow.commit()
        return payment

    @staticmethod
    async def _history(uow: UnitOfWork, payment: Payment, action: str, before: Payment | None, caller: Caller) -> None:
        await uow.payments.add_history(
            payment.id,
            "payment",
            payment.id,
            action,
            caller.actor_id,
            None if before is None else snapshot(before),
            snapshot(payment),
        )
