"""Policy use cases."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import (
    ClientDeleted,
    ClientNotFound,
    DealDeleted,
    DealNotFound,
    FieldProblem,
    PolicyClientMismatch,
    PolicyHasCalculation,
    PolicyHasPayments,
    PolicyNotFound,
    PolicyNumberConflict,
    RuleViolation,
)
from crm.domain.events import DomainEvent
from crm.domain.pagination import Page
from crm.domain.policies.repository import PolicyReader
from crm.domain.policies.schemas import Policy, PolicyCreate, PolicyFilter, PolicyUpdate
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes


def check_period(effective_from: date, effective_to: date) -> None:
    if effective_to < effective_from:
        raise RuleViolation(
            "A policy cannot end before it starts.",
            errors=[FieldProblem("effective_to", f"must not be before effective_from ({effective_from})")],
        )


class PolicyService:
    def __init__(self, uow: UnitOfWorkFactory, reader: PolicyReader, clock: Clock, *, default_currency: str) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock
        self._default_currency = default_currency.upper()

    async def get(self, policy_id: UUID) -> Policy:
        policy = await self._reader.get(policy_id)
        if policy is None:
            raise PolicyNotFound(f"Policy {policy_id} does not exist.")
        return policy

    async def list(self, query: PolicyFilter) -> Page[Policy]:
        return await self._reader.page(query)

    async def create(self, data: PolicyCreate, caller: Caller) -> Policy:
        check_period(data.effective_from, data.effective_to)
        values = data.model_dump()
        values["currency"] = data.currency or self._default_currency
        async with self._uow(caller) as uow:
            await self._check_parties(uow, data.deal_id, data.client_id)
            policy = await uow.policies.add(uuid4(), values, caller.actor_id)
            if policy is None:
                raise self._number_taken(data.policy_number)
            uow.record(self._event("policy.created", policy))
            await uow.commit()
        return policy

    async def update(
        self, policy_id: UUID, patch: PolicyUpdate, caller: Caller, *, if_match: int | None = None
    ) -> Policy:
        changes = requested_changes(patch, PolicyUpdate.NOT_NULLABLE)
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, policy_id)
            check_version(current.version, if_match)
            changes = effective_changes(current, changes)
            if not changes:
                return current
            check_period(
                changes.get("effective_from", current.effective_from),
                changes.get("effective_to", current.effective_to),
            )
            if "deal_id" in changes or "client_id" in changes:
                if "deal_id" in changes and current.calculation_id is not None:
                    raise PolicyHasCalculation(
                        f"Policy {policy_id} is linked to calculation {current.calculation_id} of its deal; "
                        "unlink it before moving the policy to another deal.",
                        errors=[FieldProblem("deal_id", "the policy is linked to a calculation of its deal")],
                    )
                await self._check_parties(
                    uow, changes.get("deal_id", current.deal_id), changes.get("client_id", current.client_id)
                )
            policy = await uow.policies.update(policy_id, changes, caller.actor_id)
            uow.record(self._event("policy.updated", policy))
            await uow.commit()
        return policy

    async def delete(self, policy_id: UUID, caller: Caller, *, if_match: int | None = None) -> None:
        async with self._uow(caller) as uow:
            current = await self._live_for_update(uow, policy_id)
            check_version(current.version, if_match)
            # Payment creation locks the policy too, so none can slip in between this count and the delete.
            payments = await uow.policies.count_live_payments(policy_id)
            if payments:
                raise PolicyHasPayments(
                    f"Policy {policy_id} has {payments} live payment(s); delete them before the policy."
                )
            policy = await uow.policies.set_deleted(policy_id, True, caller.actor_id)
            uow.record(self._event("policy.deleted", policy))
            await uow.commit()

    async def restore(self, policy_id: UUID, caller: Caller) -> Policy:
        """Undo a soft delete; restoring a live policy changes nothing. Its deal and client must be live."""
        async with self._uow(caller) as uow:
            current = await uow.policies.get_for_update(policy_id)
            if current is None:
                raise PolicyNotFound(f"Policy {policy_id} does not exist.")
            if not current.is_deleted:
                return current
            if await uow.policies.client_of_live_deal(current.deal_id) is None:
                raise DealDeleted(f"Deal {current.deal_id} of this policy is deleted; restore it first.")
            if not await uow.clients.lock_live_for_share(current.client_id):
                raise ClientDeleted(f"Client {current.client_id} of this policy is deleted; restore it first.")
            policy = await uow.policies.set_deleted(policy_id, False, caller.actor_id)
            uow.record(self._event("policy.restored", policy))
            await uow.commit()
        return policy

    @staticmethod
    async def _check_parties(uow: UnitOfWork, deal_id: UUID, client_id: UUID) -> None:
        """The deal and the client are live (and stay so until commit), and the deal is the client's."""
        deal_client = await uow.policies.client_of_live_deal(deal_id)
        if deal_client is None:
            raise DealNotFound(f"Deal {deal_id} does not exist.", errors=[FieldProblem("deal_id", "no such live deal")])
        if not await uow.clients.lock_live_for_share(client_id):
            raise ClientNotFound(
                f"Client {client_id} does not exist.", errors=[FieldProblem("client_id", "no such live client")]
            )
        if deal_client != client_id:
            raise PolicyClientMismatch(
                f"Deal {deal_id} belongs to client {deal_client}, not {client_id}.",
                errors=[FieldProblem("client_id", "must be the client of the deal")],
            )

    @staticmethod
    async def _live_for_update(uow: UnitOfWork, policy_id: UUID) -> Policy:
        policy = await uow.policies.get_for_update(policy_id)
        if policy is None or policy.is_deleted:
            raise PolicyNotFound(f"Policy {policy_id} does not exist.")
        return policy

    @staticmethod
    def _number_taken(number: str) -> PolicyNumberConflict:
        return PolicyNumberConflict(
            f"Policy number {number!r} is already in use.",
            errors=[FieldProblem("policy_number", "already in use")],
        )

    def _event(self, routing_key: str, policy: Policy) -> DomainEvent:
        return DomainEvent(
            routing_key=routing_key,
            aggregate_type="policy",
            aggregate_id=policy.id,
            data=policy.model_dump(mode="json"),
            occurred_at=self._clock.now(),
        )
