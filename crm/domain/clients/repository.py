"""What the clients module needs from storage."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from crm.domain.clients.schemas import Client, ClientFilter
from crm.domain.pagination import Page


class ClientRepository(Protocol):
    """Writes inside a unit of work; rows read here are locked until the transaction ends."""

    async def add(self, client_id: UUID, values: dict[str, Any], actor_id: UUID | None) -> Client: ...

    async def get_for_update(self, client_id: UUID) -> Client | None:
        """The client, live or deleted, locked against concurrent changes."""

    async def lock_live_for_share(self, client_id: UUID) -> bool:
        """True if the client exists and is not deleted; it stays so until the transaction ends."""

    async def update(self, client_id: UUID, changes: dict[str, Any], actor_id: UUID | None) -> Client: ...

    async def set_deleted(self, client_id: UUID, deleted: bool, actor_id: UUID | None) -> Client: ...


class ClientReader(Protocol):
    """Reads outside any transaction: one statement each, for the hot read paths."""

    async def get(self, client_id: UUID) -> Client | None: ...

    async def page(self, query: ClientFilter) -> Page[Client]: ...
