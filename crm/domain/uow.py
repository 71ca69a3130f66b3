"""The unit of work: one transaction per use case; recorded events commit with the change."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from crm.domain.caller import Caller
from crm.domain.clients.repository import ClientRepository
from crm.domain.deals.repository import DealRepository
from crm.domain.events import DomainEvent


class UnitOfWork(Protocol):
    @property
    def clients(self) -> ClientRepository: ...

    @property
    def deals(self) -> DealRepository: ...

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

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, caller: Caller) -> UnitOfWork: ...
