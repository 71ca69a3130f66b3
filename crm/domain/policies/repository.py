"""What the policies module needs from storage, and from the Documents service."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.pagination import Page, PageRequest
from crm.domain.policies.documents import PolicyDocument
from crm.domain.policies.schemas import Policy, PolicyFilter
from crm.domain.records import RecordRepository


class PolicyRepository(RecordRepository[Policy], Protocol):
    """Writes inside a unit of work; rows read here are locked until the transaction ends."""

    async def count_live_payments(self, policy_id: UUID) -> int:
        """Payments of the policy that are not deleted; a policy holding money is not deleted silently."""

    async def client_of_live_deal(self, deal_id: UUID) -> UUID | None:
        """The client of the deal if the deal exists and is not deleted; it stays so until the transaction ends."""


class PolicyReader(Protocol):
    """Reads outside any transaction: one statement each."""

    async def get(self, policy_id: UUID, access: Access) -> Policy | None: ...

    async def page(self, query: PolicyFilter, access: Access) -> Page[Policy]: ...


class PolicyDocumentRepository(Protocol):
    async def add(
        self, link_id: UUID, policy_id: UUID, document_id: UUID, actor_id: UUID | None
    ) -> PolicyDocument | None:
        """Link the document, or ``None`` if it is already linked to this policy."""

    async def remove(self, policy_id: UUID, document_id: UUID) -> PolicyDocument | None:
        """Delete the link and return it, or ``None`` if there was none."""


class PolicyDocumentReader(Protocol):
    async def page(self, policy_id: UUID, page: PageRequest) -> Page[PolicyDocument]:
        """The policy's links, oldest first; the use case checked the caller sees the policy."""
