"""Incomes and expenses of a payment, and the payment's history.

A line and the payment's totals change in one transaction, with the payment locked first: the totals are
then recomputed from the live lines, so concurrent line writes can never lose one another's update.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from crm.domain.access import Access
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import ExpenseNotFound, IncomeNotFound, NotFound
from crm.domain.events import DomainEvent
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page, PageRequest
from crm.domain.payments.repository import PaymentReader
from crm.domain.payments.rules import check_correction, check_currency, check_posted_at
from crm.domain.payments.schemas import (
    HistoryEntry,
    IncomeCreate,
    IncomeUpdate,
    LineKind,
    Payment,
    PaymentLine,
)
from crm.domain.payments.service import (
    Action,
    live_payment_for_update,
    payment_event,
    payment_not_found,
    policy_not_found,
)
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes


def line_not_found(kind: LineKind, line_id: UUID) -> NotFound:
    error = IncomeNotFound if kind == "income" else ExpenseNotFound
    return error(f"The {kind} {line_id} does not exist in this payment.")


def _line_json(kind: LineKind, line: PaymentLine) -> dict[str, Any]:
    data = line.model_dump(mode="json")
    data[f"{kind}_id"] = data.pop("id")
    return data


class PaymentLineService:
    def __init__(self, uow: UnitOfWorkFactory, reader: PaymentReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def _check_payment(self, deal_id: UUID, policy_id: UUID, payment_id: UUID, caller: Caller) -> None:
        """A payment's lines and history are reached through its policy: the caller must see it."""
        if not await self._reader.policy_is_live(deal_id, policy_id, Access.of(caller)):
            raise policy_not_found(policy_id)
        if await self._reader.get(payment_id, policy_id) is None:
            raise payment_not_found(payment_id)

    async def list(
        self, kind: LineKind, deal_id: UUID, policy_id: UUID, payment_id: UUID, page: PageRequest, caller: Caller
    ) -> Page[PaymentLine]:
        """Oldest posting first."""
        await self._check_payment(deal_id, policy_id, payment_id, caller)
        return await self._reader.lines(kind, payment_id, page)

    async def get(
        self, kind: LineKind, deal_id: UUID, policy_id: UUID, payment_id: UUID, line_id: UUID, caller: Caller
    ) -> PaymentLine:
        await self._check_payment(deal_id, policy_id, payment_id, caller)
        line = await self._reader.line(kind, line_id, payment_id)
        if line is None:
            raise line_not_found(kind, line_id)
        return line

    async def history(
        self, deal_id: UUID, policy_id: UUID, payment_id: UUID, page: PageRequest, caller: Caller
    ) -> Page[HistoryEntry]:
        """Newest first."""
        await self._check_payment(deal_id, policy_id, payment_id, caller)
        return await self._reader.history(payment_id, page)

    async def create(
        self,
        kind: LineKind,
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        data: IncomeCreate,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
    ) -> PaymentLine:
        check_posted_at(data.posted_at, self._clock.today())
        check_correction(data.amount, data.note)
        async with self._uow(caller, idempotency) as uow:
            payment = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
            values = {**data.model_dump(), "payment_id": payment_id, "currency": data.currency or payment.currency}
            check_currency(values["currency"], payment.currency)
            line = await uow.payments.lines(kind).add(uuid4(), values, caller.actor_id)
            await self._retotal(uow, kind, "created", payment, None, line, caller)
            await uow.commit(line)
        return line

    async def update(
        self,
        kind: LineKind,
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        line_id: UUID,
        patch: IncomeUpdate,
        caller: Caller,
        *,
        if_match: int | None = None,
    ) -> PaymentLine:
        changes = requested_changes(patch, IncomeUpdate.NOT_NULLABLE)
        async with self._uow(caller) as uow:
            payment = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
            current = await self._line_for_update(uow, kind, payment_id, line_id)
            check_version(current.version, if_match)
            changes = effective_changes(current, changes)
            if not changes:
                return current
            if "posted_at" in changes:
                check_posted_at(changes["posted_at"], self._clock.today())
            if "currency" in changes:
                check_currency(changes["currency"], payment.currency)
            check_correction(changes.get("amount", current.amount), changes.get("note", current.note))
            line = await uow.payments.lines(kind).update(line_id, changes, caller.actor_id)
            await self._retotal(uow, kind, "updated", payment, current, line, caller)
            await uow.commit()
        return line

    async def delete(
        self,
        kind: LineKind,
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        line_id: UUID,
        caller: Caller,
        *,
        if_match: int | None = None,
    ) -> None:
        async with self._uow(caller) as uow:
            payment = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
            current = await self._line_for_update(uow, kind, payment_id, line_id)
            check_version(current.version, if_match)
            line = await uow.payments.lines(kind).set_deleted(line_id, True, caller.actor_id)
            await self._retotal(uow, kind, "deleted", payment, current, line, caller)
            await uow.commit()

    async def restore(
        self,
        kind: LineKind,
        deal_id: UUID,
        policy_id: UUID,
        payment_id: UUID,
        line_id: UUID,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
    ) -> PaymentLine:
        """Undo a soft delete: the line counts in the totals again. Restoring a live line changes nothing."""
        async with self._uow(caller, idempotency) as uow:
            payment = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
            current = await self._line_for_update(uow, kind, payment_id, line_id, deleted_too=True)
            if not current.is_deleted:
                return current
            line = await uow.payments.lines(kind).set_deleted(line_id, False, caller.actor_id)
            await self._retotal(uow, kind, "restored", payment, current, line, caller)
            await uow.commit(line)
        return line

    @staticmethod
    async def _line_for_update(
        uow: UnitOfWork, kind: LineKind, payment_id: UUID, line_id: UUID, *, deleted_too: bool = False
    ) -> PaymentLine:
        """The line of that payment, locked (after the payment, which the caller locked first)."""
        line = await uow.payments.lines(kind).get_for_update(line_id)
        if line is None or line.payment_id != payment_id or (line.is_deleted and not deleted_too):
            raise line_not_found(kind, line_id)
        return line

    async def _retotal(
        self,
        uow: UnitOfWork,
        kind: LineKind,
        action: Action,
        payment: Payment,
        before: PaymentLine | None,
        line: PaymentLine,
        caller: Caller,
    ) -> None:
        """The line's history and event, then the payment's new totals and ``deal.payment.updated`` after it;
        the caller commits."""
        after = line.model_dump(mode="json")
        await uow.payments.add_history(
            payment.id,
            kind,
            line.id,
            action,
            caller.actor_id,
            None if before is None else before.model_dump(mode="json"),
            after,
        )
        uow.record(
            self._event(f"deal.payment.{kind}.{action}", kind, payment, line, before if action == "updated" else None)
        )
        updated = await uow.payments.recompute_totals(payment.id, caller.actor_id)
        uow.record(payment_event("deal.payment.updated", updated, self._clock))

    def _event(
        self, routing_key: str, kind: LineKind, payment: Payment, line: PaymentLine, previous: PaymentLine | None
    ) -> DomainEvent:
        data: dict[str, Any] = {
            "deal_id": str(payment.deal_id),
            "policy_id": str(payment.policy_id),
            "payment_id": str(payment.id),
            kind: _line_json(kind, line),
        }
        if previous is not None:
            data["previous"] = _line_json(kind, previous)
        return DomainEvent(routing_key, payment.deal_id, data, self._clock.now())
