"""User contacts use cases: read, and set (PUT) with optimistic concurrency."""

from __future__ import annotations

from uuid import UUID

from crm.domain.access import require_contacts_access
from crm.domain.caller import Caller
from crm.domain.errors import PreconditionFailed
from crm.domain.uow import UnitOfWorkFactory
from crm.domain.users.errors import ContactsNotFound
from crm.domain.users.repository import UserContactReader
from crm.domain.users.schemas import UserContacts, UserContactsPut, check_reachable
from crm.domain.versioning import check_version


class UserContactService:
    def __init__(self, uow: UnitOfWorkFactory, reader: UserContactReader) -> None:
        self._uow = uow
        self._reader = reader

    async def get(self, user_id: UUID, caller: Caller) -> UserContacts:
        require_contacts_access(caller, user_id, change=False)
        contacts = await self._reader.get(user_id)
        if contacts is None:
            raise ContactsNotFound(f"User {user_id} has no contacts recorded.")
        return contacts

    async def put(
        self, user_id: UUID, data: UserContactsPut, caller: Caller, *, if_match: int | None = None
    ) -> tuple[UserContacts, bool]:
        """The record as set, and whether it was created. ``If-Match`` on a user without a record fails (412):
        the caller expected a version that does not exist."""
        require_contacts_access(caller, user_id, change=True)
        check_reachable(data.preferred_channel, data.telegram_id)
        async with self._uow(caller) as uow:
            current = await uow.user_contacts.get_for_update(user_id)
            if current is None:
                if if_match is not None:
                    raise PreconditionFailed(f"User {user_id} has no contacts recorded yet; send no If-Match.")
            else:
                check_version(current.version, if_match)
                if current.model_copy(update=data.model_dump()) == current:
                    return current, False
            contacts, created = await uow.user_contacts.put(user_id, data.model_dump(mode="json"), caller.actor_id)
            await uow.commit()
        return contacts, created
