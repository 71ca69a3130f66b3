"""Incomes and expenses of a payment, and the payment's history.

A line and the payment's totals change in one transaction, with the payment locked first: the totals are
then recomputed from the live lines, so concurrent line writes can never lose one another's update.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import ExpenseNotFound, IncomeNotFound, NotFound
from crm.domain.events import DomainEvent
from crm.domain.pagination import Page, PageRequest
from crm.domain.payments.repository import PaymentReader
from crm.domain.payments.rules import check_correction, check_currency, check_posted_at, with_status
from crm.domain.payments.schemas import (
    HistoryEntry,
    IncomeCreate,
    IncomeUpdate,
    LineKind,
    Payment,
    PaymentLine,
)
from crm.domain.payments.service import live_payment_for_update, payment_event, payment_not_found, policy_not_found
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

    async def _check_payment(self, deal_id: UUID, policy_id: UUID, payment_id: UUID) -> None:
        if not await self._reader.policy_is_live(deal_id, policy_id):
            raise policy_not_found(policy_id)
        if await self._reader.get(payment_id, policy_id) is None:
            raise payment_not_found(payment_id)

    async def list(
        self, kind: LineKind, deal_id: UUID, policy_id: UUID, payment_id: UUID, page: PageRequest
    ) -> Page[PaymentLine]:
        """Oldest posting first."""
        await self._check_payment(deal_id, policy_id, payment_id)
        return await self._reader.lines(kind, payment_id, page)

    async def get(self, kind: LineKind, deal_id: UUID, policy_id: UUID, payment_id: UUID, line_id: UUID) -> PaymentLine:
        await self._check_payment(deal_id, policy_id, payment_id)
        line = await self._reader.line(kind, line_id, payment_id)
        if line is None:
            raise line_not_found(kind, line_id)
        return line

    async def history(self, deal_id: UUID, policy_id: UUID, payment_id: UUID, page: PageRequest) -> Page[HistoryEntry]:
        """Newest first."""
        await self._check_payment(deal_id, policy_id, payment_id)
        return await self._reader.history(payment_id, page)

    async def create(
        self, kind: LineKind, deal_id: UUID, policy_id: UUID, payment_id: UUID, data: IncomeCreate, caller: Caller
    ) -> PaymentLine:
        check_posted_at(data.posted_at, self._clock.today())
        check_correction(data.amount, data.note)
        async with self._uow(caller) as uow:
            payment = await live_payment_for_update(uow, deal_id, policy_id, payment_id)
            values = data.model_dump()
            values["currency"] = data.currency or payment.currency
            check_currency(values["currency"], payment.currency)
            line = await uow.payments.add_line(kind, uuid4(), payment_id, values, caller.actor_id)
            await uow.payments.add_history(payment_id, kind, line.id, "created", caller.actor_id, None, _dump(line))
            uow.record(self._event(f"deal.payment.{kind}.created", kind, payment, line, None))
            await self._retotal(uow, payment, caller)
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
            current = await uow.payments.line_for_update(kind, line_id, payment_id)
            if current is None:
                raise line_not_found(kind, line_id)
            check_version(current.version, if_match)
            changes = effective_changes(current, changes)
            if not changes:
                return current
            if "posted_at" in changes:
                check_posted_at(changes["posted_at"], self._clock.today())
            if "currency" in changes:
                check_currency(changes["currency"], payment.currency)
            check_correction(changes.get("amount", current.amount), changes.get("note", current.note))
            line = await uow.payments.update_line(kind, line_id, changes, caller.actor_id)
            await uow.payments.add_history(
                payment_id, kind, line_id, "updated", caller.actor_id, _dump(current), _dump(line)
            )
            uow.record(self._event(f"deal.payment.{kind}.updated", kind, payment, line, current))
            await self._retotal(uow, payment, caller)
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
            current = await uow.payments.line_for_update(kind, line_id, payment_id)
            if current is None:
                raise line_not_found(kind, line_id)
            check_version(current.version, if_match)
            line = await uow.payments.delete_line(kind, line_id, caller.actor_id)
            await uow.payments.add_history(
                payment_id, kind, line_id, "deleted", caller.actor_id, _dump(current), _dump(line)
            )
            uow.record(self._event(f"deal.payment.{kind}.deleted", kind, payment, line, None))
            await self._retotal(uow, payment, caller)

    async def _retotal(self, uow: UnitOfWork, payment: Payment, caller: Caller) -> None:
        """The line's event is recorded already, so ``deal.payment.updated`` follows it in the outbox."""
        updated = with_status(await uow.payments.recompute_totals(payment.id, caller.actor_id), self._clock.today())
        uow.record(payment_event("deal.payment.updated", updated, self._clock))
        await uow.commit()

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
        return DomainEvent(
            routing_key=routing_key,
            aggregate_type="deal",
            aggregate_id=payment.deal_id,
            data=data,
            occurred_at=self._clock.now(),
        )


def _dump(line: PaymentLine) -> dict[str, Any]:
    return line.model_dump(mode="json")
