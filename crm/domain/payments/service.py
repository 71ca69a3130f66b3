"""Payment use cases: instalments of a policy, with an explicit cancel and an admin's reopen."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID, uuid4

from crm.domain.access import Access, require_admin
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import PaymentHasTransactions, PaymentNotFound, PolicyNotFound
from crm.domain.events import DomainEvent
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page
from crm.domain.payments.repository import PaymentReader
from crm.domain.payments.rules import check_actual_date
from crm.domain.payments.schemas import Payment, PaymentCreate, PaymentFilter, PaymentUpdate
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes

EMBEDDED = frozenset({"incomes", "expenses"})
# What can happen to a payment or one of its lines; each is an event of its own (``deal.payment.restored``, …).
Action = Literal["created", "updated", "deleted", "restored"]


def snapshot(payment: Payment) -> dict[str, Any]:
    """The payment as history and events keep it: with totals and status, without embedded lines."""
    return payment.model_dump(mode="json", exclude=set(EMBEDDED))


def payment_event(routing_key: str, payment: Payment, clock: Clock) -> DomainEvent:
    """A payment's events are about its deal, so the deal's stream carries them."""
    data = {"deal_id": str(payment.deal_id), "policy_id": str(payment.policy_id), "payment": snapshot(payment)}
    return DomainEvent(routing_key, payment.deal_id, data, clock.now())


def policy_not_found(policy_id: UUID) -> PolicyNotFound:
    return PolicyNotFound(f"Policy {policy_id} does not exist in this deal.")


def payment_not_found(payment_id: UUID) -> PaymentNotFound:
    return PaymentNotFound(f"Payment {payment_id} does not exist in this policy.")


async def payment_for_update(uow: UnitOfWork, deal_id: UUID, policy_id: UUID, payment_id: UUID) -> Payment:
    """The payment of that policy, live or deleted, locked: the policy first, then the payment (always in
    that order, so writers cannot deadlock)."""
    if await uow.payments.lock_policy(deal_id, policy_id, exclusive=False) is None:
        raise policy_not_found(policy_id)
    payment = await uow.payments.get_for_update(payment_id)
    if payment is None or payment.policy_id != policy_id:
        raise payment_not_found(payment_id)
    return payment


async def live_payment_for_update(uow: UnitOfWork, deal_id: UUID, policy_id: UUID, payment_id: UUID) -> Payment:
    payment = await payment_for_update(uow, deal_id, policy_id, payment_id)
    if payment.is_deleted:
        raise payment_not_found(payment_id)
    return payment


class PaymentService:
    def __init__(self, uow: UnitOfWorkFactory, reader: PaymentReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def _check_policy(self, deal_id: UUID, policy_id: UUID, caller: Caller) -> None:
        """A policy's payments are reached through it: the caller must see it."""
        if not await self._reader.policy_is_live(deal_id, policy_id, Access.of(caller)):
            raise policy_not_found(policy_id)

    async def get(self, deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: Caller) -> Payment:
        await self._check_policy(deal_id, policy_id, caller)
        payment = await self._reader.get(payment_id, policy_id)
        if payment is None:
            raise payment_not_found(payment_id)
        return payment

    async def list(self, query: PaymentFilter, caller: Caller) -> Page[Payment]:
        await self._check_policy(query.deal_id, query.policy_id, caller)
        return await self._reader.page(query)

    async def create(
        self,
        deal_id: UUID,
        policy_id: UUID,
        data: PaymentCreate,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
    ) -> Payment:
        check_actual_date(data.actual_date, data.planned_date, self._clock.today())
        async with self._uow(caller, idempotency) as uow:
            # The exclusive lock on the policy serialises sequence allocation.
            policy_currency = await uow.payments.lock_policy(deal_id, policy_id, exclusive=True)
            if policy_currency is None:
                raise policy_not_found(policy_id)
            values = {**data.model_dump(), "policy_id": policy_id, "currency": data.currency or policy_currency}
            payment = await uow.payments.add(uuid4(), values, caller.actor_id)
            await self._recorded(uow, "created", payment, None, caller)
            await uow.commit(payment)
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
        async with self._uow(caller) as uow:
            current = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
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
                    self._clock.today(),
                )
            payment = await self._change(uow, current, changes, caller)
            await uow.commit()
        return payment

    async def cancel(
        self,
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
    ) -> Payment:
        """Cancelling a cancelled payment changes nothing (admins only)."""
        require_admin(caller, "cancel a payment")
        return await self._set_cancelled(True, deal_id, policy_id, payment_id, caller, idempotency)

    async def reopen(
        self,
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
    ) -> Payment:
        """Undo a cancel (admins only); reopening a payment that is not cancelled changes nothing."""
        require_admin(caller, "reopen a cancelled payment")
        return await self._set_cancelled(False, deal_id, policy_id, payment_id, caller, idempotency)

    async def delete(
        self, deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: Caller, *, if_match: int | None = None
    ) -> None:
        async with self._uow(caller) as uow:
            current = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
            check_version(current.version, if_match)
            if await uow.payments.has_live_lines(payment_id):
                raise PaymentHasTransactions(
                    f"Payment {payment_id} has incomes or expenses; delete them before the payment."
                )
            payment = await uow.payments.set_deleted(payment_id, True, caller.actor_id)
            await self._recorded(uow, "deleted", payment, current, caller)
            await uow.commit()

    async def restore(
        self,
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
    ) -> Payment:
        """Undo a soft delete; restoring a live payment changes nothing. Its sequence is kept."""
        async with self._uow(caller, idempotency) as uow:
            current = await payment_for_update(uow, deal_id, policy_id, payment_id)
            if not current.is_deleted:
                return current
            payment = await uow.payments.set_deleted(payment_id, False, caller.actor_id)
            await self._recorded(uow, "restored", payment, current, caller)
            await uow.commit(payment)
        return payment

    async def _set_cancelled(
        self,
        cancelled: bool,
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        caller: Caller,
        idempotency: IdempotentRequest | None,
    ) -> Payment:
        """``cancel`` and ``reopen``: a cancelled payment has ``cancelled_at``, and only a cancelled one."""
        async with self._uow(caller, idempotency) as uow:
            current = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
            if (current.cancelled_at is not None) == cancelled:
                return current
            changes = {"cancelled_at": self._clock.now() if cancelled else None}
            payment = await self._change(uow, current, changes, caller)
            await uow.commit(payment)
        return payment

    async def _change(self, uow: UnitOfWork, current: Payment, changes: dict[str, Any], caller: Caller) -> Payment:
        """Write the changes with their history and ``deal.payment.updated``; the caller commits."""
        payment = await uow.payments.update(current.id, changes, caller.actor_id)
        await self._recorded(uow, "updated", payment, current, caller)
        return payment

    async def _recorded(
        self, uow: UnitOfWork, action: Action, payment: Payment, before: Payment | None, caller: Caller
    ) -> None:
        """What happened to the payment, in its history and as ``deal.payment.<action>``."""
        await uow.payments.add_history(
            payment.id,
            "payment",
            payment.id,
            action,
            caller.actor_id,
            None if before is None else snapshot(before),
            snapshot(payment),
        )
        uow.record(payment_event(f"deal.payment.{action}", payment, self._clock))
