"""What the clients module needs from storage."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from crm.domain.access import Access
from crm.domain.clients.schemas import Client, ClientFilter
from crm.domain.pagination import Page
from crm.domain.records import RecordRepository


class ClientRepository(RecordRepository[Client], Protocol):
    """Writes inside a unit of work."""


class ClientReader(Protocol):
    """Reads outside any transaction: one statement each, for the hot read paths; only what ``access`` sees."""

    async def get(self, client_id: UUID, access: Access) -> Client | None: ...

    async def page(self, query: ClientFilter, access: Access) -> Page[Client]: ...
