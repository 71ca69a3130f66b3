"""What the user contacts can refuse."""

from __future__ import annotations

from crm.domain.errors import NotFound


class ContactsNotFound(NotFound):
    code = "contacts_not_found"
    title = "Contacts not found"
