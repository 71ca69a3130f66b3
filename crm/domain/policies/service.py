"""Policy use cases."""

from __future__ import annotations

from uuid import UUID, uuid4

from crm.domain.access import Access, Resource, check_reassignment, owner_for, require_creator
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
)
from crm.domain.events import record_event
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page
from crm.domain.policies.repository import PolicyReader
from crm.domain.policies.rules import check_period, check_terms
from crm.domain.policies.schemas import Policy, PolicyCreate, PolicyFilter, PolicyUpdate
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory
from crm.domain.versioning import check_version, effective_changes, requested_changes


class PolicyService:
    def __init__(self, uow: UnitOfWorkFactory, reader: PolicyReader, clock: Clock, *, default_currency: str) -> None:
        self._uow = uow
        self._reader = reader
        self._clock = clock
        self._default_currency = default_currency

    async def get(self, policy_id: UUID, caller: Caller) -> Policy:
        policy = await self._reader.get(policy_id, Access.of(caller))
        if policy is None:
            raise PolicyNotFound(f"Policy {policy_id} does not exist.")
        return policy

    async def list(self, query: PolicyFilter, caller: Caller) -> Page[Policy]:
        return await self._reader.page(query, Access.of(caller))

    async def create(self, data: PolicyCreate, caller: Caller, idempotency: IdempotentRequest | None = None) -> Policy:
        check_period(data.effective_from, data.effective_to)
        check_terms(data.status, data.premium, data.effective_from, data.effective_to)
        require_creator(caller, Resource.POLICY)
        values = data.model_dump()
        values["currency"] = data.currency or self._default_currency
        values["owner_id"] = owner_for(caller, data.owner_id)
        async with self._uow(caller, idempotency) as uow:
            await self._check_parties(uow, data.deal_id, data.client_id)
            # A taken number (a concurrent insert's included) fails at uq_policies_policy_number: 409.
            policy = await uow.policies.add(uuid4(), values, caller.actor_id)
            uow.record(record_event("policy.created", policy, self._clock.now()))
            await uow.commit(policy)
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
            check_reassignment(caller, changes)
            after = current.model_copy(update=changes)
            check_period(after.effective_from, after.effective_to)
            check_terms(after.status, after.premium, after.effective_from, after.effective_to)
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
            uow.record(record_event("policy.updated", policy, self._clock.now()))
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
            uow.record(record_event("policy.deleted", policy, self._clock.now()))
            await uow.commit()

    async def restore(self, policy_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None) -> Policy:
        """Undo a soft delete; restoring a live policy changes nothing. Its deal and client must be live."""
        async with self._uow(caller, idempotency) as uow:
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
            uow.record(record_event("policy.restored", policy, self._clock.now()))
            await uow.commit(policy)
        return policy

    @staticmethod
    async def _check_parties(uow: UnitOfWork, deal_id: UUID, client_id: UUID) -> None:
        """The deal and the client are live (and stay so until commit), the caller may change the deal (a policy
        is part of it), and the deal is the client's."""
        deal_client = (
            await uow.policies.client_of_live_deal(deal_id) if await uow.deals.reach(deal_id, change=True) else None
        )
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
