"""What the clients module needs from storage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.clients.schemas import Client, ClientFilter
from crm.domain.pagination import Page
from crm.domain.records import RecordRepository


class ClientRepository(RecordRepository[Client], Protocol):
    """Writes inside a unit of work."""

    async def find_live(self, client_id: UUID) -> Client | None:
        """The live client, whoever sees it; kept live until the transaction ends."""

    async def add_many(self, records: Sequence[tuple[UUID, Mapping[str, Any]]], actor_id: UUID | None) -> list[Client]:
        """Insert the clients (id, columns) made by ``actor_id`` in one statement; returned in the same order."""

    async def find_by_contact(self, email: str | None, phone: str | None) -> Client | None:
        """The oldest live client with this e-mail (case aside) or phone (its digits), whoever owns it; kept live
        until the transaction ends. ``None`` when neither is given or none matches."""


class ClientReader(Protocol):
    """Reads outside any transaction: one statement each, for the hot read paths; only what ``access`` sees."""

    async def get(self, client_id: UUID, access: Access) -> Client | None: ...

    async def page(self, query: ClientFilter, access: Access) -> Page[Client]: ...
