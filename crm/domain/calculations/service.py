"""Calculation use cases: quotes of a deal, their workflow, and the policy a confirmed one became."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

from crm.domain.access import Access
from crm.domain.calculations.repository import CalculationReader
from crm.domain.calculations.rules import (
    READ_ONLY_STATUSES,
    READY_REQUIREMENTS,
    CalculationStatus,
    missing_for_ready,
    transition_refusal,
)
from crm.domain.calculations.schemas import (
    Calculation,
    CalculationCreate,
    CalculationFilter,
    CalculationStatusChange,
    CalculationUpdate,
    ValidityPeriod,
)
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import (
    CalculationNotFound,
    CalculationNotReady,
    CalculationUpdateForbidden,
    DealNotFound,
    FieldProblem,
    FilesRequiredForReady,
    InvalidCalculationTransition,
    PolicyNotFound,
    PremiumRequiredForReady,
    ProgramRequiredForReady,
    ValidityPeriodRequiredForReady,
)
from crm.domain.events import DomainEvent
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, requested_changes

NOT_READY_ERRORS: Mapping[str, type[CalculationNotReady]] = {
    "files": FilesRequiredForReady,
    "program_name": ProgramRequiredForReady,
    "premium_amount": PremiumRequiredForReady,
    "validity_period": ValidityPeriodRequiredForReady,
}
_REQUIREMENT_MESSAGES = dict(READY_REQUIREMENTS)


class CalculationService:
    def __init__(self, uow: UnitOfWorkFactory, reader: CalculationReader, clock: Clock) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock

    async def get(self, deal_id: UUID, calculation_id: UUID, caller: Caller) -> Calculation:
        access = Access.of(caller)
        await self._require_deal(deal_id, access)
        calculation = await self._reader.get_of_deal(deal_id, calculation_id, access)
        if calculation is None:
            raise CalculationNotFound(f"Calculation {calculation_id} does not exist in deal {deal_id}.")
        return calculation

    async def list(self, query: CalculationFilter, caller: Caller) -> Page[Calculation]:
        access = Access.of(caller)
        await self._require_deal(query.deal_id, access)
        return await self._reader.page(query, access)

    async def create(
        self, deal_id: UUID, data: CalculationCreate, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Calculation:
        async with self._uow(caller, idempotency) as uow:
            await self._lock_deal(uow, deal_id)
            values = {**data.model_dump(), "deal_id": deal_id, "status": CalculationStatus.DRAFT}
            calculation = await uow.calculations.add(uuid4(), values, caller.actor_id)
            uow.record(self._event("deal.calculation.created", calculation))
            await uow.commit(calculation)
        return calculation

    async def update(
        self,
        deal_id: UUID,
        calculation_id: UUID,
        patch: CalculationUpdate,
        caller: Caller,
        *,
        if_match: int | None = None,
    ) -> Calculation:
        changes = requested_changes(patch, CalculationUpdate.NOT_NULLABLE)
        async with self._uow(caller) as uow:
            current = await self._writable(uow, deal_id, calculation_id, if_match)
            changes = _effective_changes(current, changes)
            if not changes:
                return current
            if current.status == CalculationStatus.READY:
                # A ready quote stays complete: clearing what `ready` needed is refused like the move was.
                _check_ready(current.model_copy(update=_as_fields(changes)))
            calculation = await uow.calculations.update(calculation_id, changes, caller.actor_id)
            uow.record(self._event("deal.calculation.updated", calculation))
            await uow.commit()
        return calculation

    async def change_status(
        self,
        deal_id: UUID,
        calculation_id: UUID,
        change: CalculationStatusChange,
        caller: Caller,
        idempotency: IdempotentRequest | None = None,
        *,
        if_match: int | None = None,
    ) -> Calculation:
        """Move along the workflow; confirming may link a live policy of the same deal.

        The policy is taken from whichever calculation held it before (that one is unlinked and gets
        its own ``deal.calculation.updated``), so each policy stays linked to one calculation.
        """
        target = change.status
        async with self._uow(caller, idempotency) as uow:
            current = await self._live_for_update(uow, deal_id, calculation_id)
            check_version(current.version, if_match)
            if current.status == target:
                if change.policy_id is not None and change.policy_id != current.linked_policy_id:
                    raise CalculationUpdateForbidden(
                        f"Calculation {calculation_id} is already confirmed; its policy link cannot change.",
                        errors=[FieldProblem("policy_id", "a confirmed calculation is read-only")],
                    )
                return current
            refusal = transition_refusal(current.status, target)
            if refusal is not None:
                raise InvalidCalculationTransition(
                    f"Cannot move calculation from {current.status} to {target}: {refusal}.",
                    errors=[FieldProblem("status", refusal)],
                )
            if target == CalculationStatus.READY:
                _check_ready(current)
            changes: dict[str, Any] = {"status": target}
            if change.policy_id is not None:
                await self._take_policy(uow, deal_id, calculation_id, change.policy_id, caller)
                changes["linked_policy_id"] = change.policy_id
            calculation = await uow.calculations.update(calculation_id, changes, caller.actor_id)
            uow.record(self._event(f"deal.calculation.status.{target.value}", calculation))
            await uow.commit(calculation)
        return calculation

    async def delete(self, deal_id: UUID, calculation_id: UUID, caller: Caller, *, if_match: int | None = None) -> None:
        async with self._uow(caller) as uow:
            await self._writable(uow, deal_id, calculation_id, if_match)
            calculation = await uow.calculations.set_deleted(calculation_id, True, caller.actor_id)
            uow.record(self._event("deal.calculation.deleted", calculation))
            await uow.commit()

    async def restore(
        self, deal_id: UUID, calculation_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> Calculation:
        """Undo a soft delete; restoring a live calculation changes nothing. The policy link a delete dropped
        stays dropped: the policy may have been linked to another calculation since."""
        async with self._uow(caller, idempotency) as uow:
            current = await self._for_update(uow, deal_id, calculation_id)
            if not current.is_deleted:
                return current
            calculation = await uow.calculations.set_deleted(calculation_id, False, caller.actor_id)
            uow.record(self._event("deal.calculation.restored", calculation))
            await uow.commit(calculation)
        return calculation

    async def _require_deal(self, deal_id: UUID, access: Access) -> None:
        if not await self._reader.deal_is_live(deal_id, access):
            raise DealNotFound(f"Deal {deal_id} does not exist.")

    @staticmethod
    async def _lock_deal(uow: UnitOfWork, deal_id: UUID) -> None:
        if not await uow.calculations.lock_live_deal(deal_id):
            raise DealNotFound(f"Deal {deal_id} does not exist.")

    async def _for_update(self, uow: UnitOfWork, deal_id: UUID, calculation_id: UUID) -> Calculation:
        """The calculation of the deal, live or deleted, locked after its deal."""
        await self._lock_deal(uow, deal_id)
        calculation = await uow.calculations.get_of_deal_for_update(deal_id, calculation_id)
        if calculation is None:
            raise CalculationNotFound(f"Calculation {calculation_id} does not exist in deal {deal_id}.")
        return calculation

    async def _live_for_update(self, uow: UnitOfWork, deal_id: UUID, calculation_id: UUID) -> Calculation:
        calculation = await self._for_update(uow, deal_id, calculation_id)
        if calculation.is_deleted:
            raise CalculationNotFound(f"Calculation {calculation_id} does not exist in deal {deal_id}.")
        return calculation

    async def _writable(
        self, uow: UnitOfWork, deal_id: UUID, calculation_id: UUID, if_match: int | None
    ) -> Calculation:
        current = await self._live_for_update(uow, deal_id, calculation_id)
        check_version(current.version, if_match)
        if current.status in READ_ONLY_STATUSES:
            raise CalculationUpdateForbidden(
                f"Calculation {calculation_id} is {current.status} and can no longer be changed or deleted.",
                errors=[FieldProblem("status", f"a {current.status} calculation is read-only")],
            )
        return current

    async def _take_policy(
        self, uow: UnitOfWork, deal_id: UUID, calculation_id: UUID, policy_id: UUID, caller: Caller
    ) -> None:
        if not await uow.calculations.lock_live_policy_of_deal(policy_id, deal_id):
            raise PolicyNotFound(
                f"Policy {policy_id} does not exist in deal {deal_id}.",
                errors=[FieldProblem("policy_id", "no live policy of this deal has this id")],
            )
        previous = await uow.calculations.unlink_policy(policy_id, calculation_id, caller.actor_id)
        if previous is not None:
            uow.record(self._event("deal.calculation.updated", previous))

    def _event(self, routing_key: str, calculation: Calculation) -> DomainEvent:
        data = calculation.model_dump(mode="json")
        if calculation.linked_policy_id is not None:
            data["policy_id"] = data["linked_policy_id"]
        # About the deal, so a deal's event stream carries its quotes too.
        return DomainEvent(routing_key, calculation.deal_id, data, self._clock.now())


def _as_fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH values typed as the record holds them (the period is a model there, a dict in the patch)."""
    fields = dict(changes)
    if fields.get("validity_period") is not None:
        fields["validity_period"] = ValidityPeriod.model_validate(fields["validity_period"])
    return fields


def _effective_changes(current: Calculation, changes: Mapping[str, Any]) -> dict[str, Any]:
    stored = current.model_dump(include=set(changes))
    return {name: value for name, value in changes.items() if stored[name] != value}


def _check_ready(calculation: Calculation) -> None:
    period = calculation.validity_period
    missing = missing_for_ready(
        files=calculation.files,
        program_name=calculation.program_name,
        premium_amount=calculation.premium_amount,
        validity_start=period.start if period else None,
        validity_end=period.end if period else None,
    )
    if missing:
        raise NOT_READY_ERRORS[missing[0]](
            f"A ready calculation needs: {', '.join(missing)}.",
            errors=[FieldProblem(name, _REQUIREMENT_MESSAGES[name]) for name in missing],
        )
