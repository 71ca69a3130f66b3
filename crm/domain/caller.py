"""Who is asking: the actor recorded on what they change, and the roles that decide what they may do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol
from uuid import UUID


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    SELLER = "seller"
    EXECUTOR = "executor"
    USER = "user"


PRIVILEGED = frozenset({Role.ADMIN, Role.MANAGER})


def roles_of(claimed: Iterable[str]) -> frozenset[Role]:
    """The roles a token's ``roles`` claim names, in either spelling (``ROLE_ADMIN`` or ``admin``); names this
    service does not know are ignored."""
    roles = set()
    for name in claimed:
        value = name.strip().lower().removeprefix("role_")
        if value in Role.__members__.values():
            roles.add(Role(value))
    return frozenset(roles)


@dataclass(frozen=True, slots=True)
class Caller:
    actor_id: UUID | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    cause: tuple[UUID, ...] = ()
    """The automation rules whose firings led here, first to last; the last one is acting (``rule_id``).
    Empty for a person, a token or crm-worker's own jobs. Every event the caller's change records carries it,
    which is how a rule that would re-trigger itself is caught (crm.domain.automation.rules)."""

    @property
    def rule_id(self) -> UUID | None:
        """The automation rule acting, if any."""
        return self.cause[-1] if self.cause else None

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_privileged(self) -> bool:
        """Admins and managers see and change everything."""
        return bool(self.roles & PRIVILEGED)


SYSTEM = Caller(roles=frozenset({Role.ADMIN}))


DEVELOPMENT_ADMIN = Caller(roles=frozenset({Role.ADMIN}))
"""Every request's caller while authentication is disabled (``CRM_AUTH_DISABLED``, development only)."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """What a verified access token says: who is calling (``sub``), with which roles, until when (``exp``)."""

    subject: UUID
    roles: frozenset[Role]
    expires_at: int
    email: str | None = None

    @property
    def caller(self) -> Caller:
        return Caller(actor_id=self.subject, roles=self.roles)


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> AccessToken:
        """The token's claims once its algorithm, signature, ``exp``, ``nbf`` and the configured ``iss`` and ``aud``
        check out; raises ``InvalidToken`` otherwise (``TokenKeysUnavailable`` when its keys cannot be fetched)."""
