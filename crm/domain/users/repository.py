"""What the user contacts need from storage."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol
from uuid import UUID

from crm.domain.users.schemas import UserContacts


class UserContactRepository(Protocol):
    """Inside a unit of work; a record read for update stays locked until the transaction ends."""

    async def get_for_update(self, user_id: UUID) -> UserContacts | None: ...

    async def put(self, user_id: UUID, values: Mapping[str, Any], actor_id: UUID | None) -> tuple[UserContacts, bool]:
        """Insert the record or replace its fields (bumping the version); True if it was inserted. A concurrent
        first PUT of the same user does not fail: one inserts, the other replaces."""

    async def of_users(self, user_ids: Collection[UUID]) -> dict[UUID, UserContacts]:
        """The records of those users that have one."""


class UserContactReader(Protocol):
    async def get(self, user_id: UUID) -> UserContacts | None: ...
