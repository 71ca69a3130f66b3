"""What the user contacts can refuse."""

from __future__ import annotations

from crm.domain.errors import NotFound, RuleViolation


class ContactsNotFound(NotFound):
    code = "contacts_not_found"
    title = "Contacts not found"


class TelegramIdRequired(RuleViolation):
    """Telegram preferred by a user it cannot reach: a rule across two fields of the contacts."""

    code = "telegram_id_required"
    title = "Telegram id required"
