"""Policy document use cases: link, list and unlink documents held by the Documents service."""

from __future__ import annotations

from uuid import UUID, uuid4

from crm.domain.access import Access
from crm.domain.caller import Caller
from crm.domain.clock import Clock
from crm.domain.errors import DocumentAlreadyLinked, DocumentNotFound, DocumentNotLinked, FieldProblem, PolicyNotFound
from crm.domain.events import DomainEvent
from crm.domain.idempotency import IdempotentRequest
from crm.domain.pagination import Page, PageRequest
from crm.domain.policies.documents import DocumentCatalog, PolicyDocument
from crm.domain.policies.repository import PolicyDocumentReader, PolicyReader
from crm.domain.uow import UnitOfWork, UnitOfWorkFactory


class PolicyDocumentService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        policies: PolicyReader,
        reader: PolicyDocumentReader,
        catalog: DocumentCatalog,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._policies = policies
        self._reader = reader
        self._catalog = catalog
        self._clock = clock

    async def list(self, policy_id: UUID, page: PageRequest, caller: Caller) -> Page[PolicyDocument]:
        await self._require_policy(policy_id, caller)
        return await self._reader.page(policy_id, page)

    async def link(
        self, policy_id: UUID, document_id: UUID, caller: Caller, idempotency: IdempotentRequest | None = None
    ) -> PolicyDocument:
        # Ask Documents before the transaction starts, so no lock waits on another service's answer;
        # the policy is checked first so an unknown policy never costs a call.
        await self._require_policy(policy_id, caller)
        if not await self._catalog.exists(document_id):
            raise DocumentNotFound(
                f"Document {document_id} does not exist in the Documents service.",
                errors=[FieldProblem("document_id", "no such document")],
            )
        async with self._uow(caller, idempotency) as uow:
            await self._lock_live_policy(uow, policy_id)
            link = await uow.policy_documents.add(uuid4(), policy_id, document_id, caller.actor_id)
            if link is None:
                raise DocumentAlreadyLinked(
                    f"Document {document_id} is already linked to policy {policy_id}.",
                    errors=[FieldProblem("document_id", "already linked to this policy")],
                )
            uow.record(self._event("policy.document.linked", link))
            await uow.commit(link)
        return link

    async def unlink(self, policy_id: UUID, document_id: UUID, caller: Caller) -> None:
        async with self._uow(caller) as uow:
            await self._lock_live_policy(uow, policy_id)
            link = await uow.policy_documents.remove(policy_id, document_id)
            if link is None:
                raise DocumentNotLinked(f"Document {document_id} is not linked to policy {policy_id}.")
            uow.record(self._event("policy.document.unlinked", link))
            await uow.commit()

    async def _require_policy(self, policy_id: UUID, caller: Caller) -> None:
        if await self._policies.get(policy_id, Access.of(caller)) is None:
            raise PolicyNotFound(f"Policy {policy_id} does not exist.")

    @staticmethod
    async def _lock_live_policy(uow: UnitOfWork, policy_id: UUID) -> None:
        """The policy is live and the caller may change it (its documents with it)."""
        if not (await uow.policies.reach(policy_id, change=True) and await uow.policies.lock_live_for_share(policy_id)):
            raise PolicyNotFound(f"Policy {policy_id} does not exist.")

    def _event(self, routing_key: str, link: PolicyDocument) -> DomainEvent:
        return DomainEvent(routing_key, link.policy_id, link.model_dump(mode="json"), self._clock.now())
