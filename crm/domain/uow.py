"""The unit of work: one transaction per use case; recorded events commit with the change."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from crm.domain.automation.repository import AutomationRepository
from crm.domain.calculations.repository import CalculationRepository
from crm.domain.caller import Caller
from crm.domain.clients.repository import ClientRepository
from crm.domain.deals.repository import DealMemberRepository, DealRepository
from crm.domain.events import DomainEvent
from crm.domain.idempotency import IdempotentRequest
from crm.domain.journal.repository import JournalRepository
from crm.domain.leads.repository import AppealRepository, LeadRepository, OperatorRepository, SourceRepository
from crm.domain.notifications.inbound_repository import InboundEventRepository
from crm.domain.notifications.repository import NotificationRepository, TemplateRepository
from crm.domain.occasions.repository import OccasionRepository
from crm.domain.payments.repository import PaymentRepository
from crm.domain.permissions.repository import PermissionSyncRepository
from crm.domain.pipelines.repository import PipelineRepository
from crm.domain.policies.repository import PolicyDocumentRepository, PolicyRepository
from crm.domain.tasks.repository import TaskRepository
from crm.domain.users.repository import UserContactRepository


class UnitOfWork(Protocol):
    @property
    def clients(self) -> ClientRepository: ...

    @property
    def deals(self) -> DealRepository: ...

    @property
    def deal_members(self) -> DealMemberRepository: ...

    @property
    def pipelines(self) -> PipelineRepository: ...

    @property
    def policies(self) -> PolicyRepository: ...

    @property
    def policy_documents(self) -> PolicyDocumentRepository: ...

    @property
    def calculations(self) -> CalculationRepository: ...

    @property
    def journal(self) -> JournalRepository: ...

    @property
    def tasks(self) -> TaskRepository: ...

    @property
    def payments(self) -> PaymentRepository: ...

    @property
    def permissions(self) -> PermissionSyncRepository: ...

    @property
    def templates(self) -> TemplateRepository: ...

    @property
    def notifications(self) -> NotificationRepository: ...

    @property
    def inbound_events(self) -> InboundEventRepository: ...

    @property
    def user_contacts(self) -> UserContactRepository: ...

    @property
    def occasions(self) -> OccasionRepository: ...

    @property
    def operators(self) -> OperatorRepository: ...

    @property
    def sources(self) -> SourceRepository: ...

    @property
    def leads(self) -> LeadRepository: ...

    @property
    def appeals(self) -> AppealRepository: ...

    @property
    def automation(self) -> AutomationRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Rolls back whatever was not committed."""

    def record(self, event: DomainEvent) -> None:
        """Queue an event; it is written to the outbox by ``commit``, in the same transaction."""

    async def commit(self, result: object = None) -> None:
        """Write the recorded events and commit, once. ``result`` is what the use case answers: with an
        ``Idempotency-Key`` it is stored in this same transaction, so a retry gets it back."""


class UnitOfWorkFactory(Protocol):
    def __call__(self, caller: Caller, idempotency: IdempotentRequest | None = None) -> UnitOfWork:
        """A unit of work acting for ``caller``; ``idempotency`` when the request came with a key."""
